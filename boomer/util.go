package boomer

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"sync/atomic"
)

func sortedKeys(m map[int64]int64) []int64 {
	keys := make([]int64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func sortedStatsKeys(m map[statsKey]*entry) []statsKey {
	keys := make([]statsKey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b statsKey) int {
		return cmp.Or(cmp.Compare(a.name, b.name), cmp.Compare(a.method, b.method))
	})
	return keys
}

// fastIndex spreads concurrent callers over shards; math/rand/v2's global
// source is per-thread, so it does not contend itself.
func fastIndex() uint32 { return rand.Uint32() }

// running is the Boomer whose Run is in progress, for the package-level
// RecordSuccess and RecordFailure.
var running atomic.Pointer[Boomer]

func currentHub() *statsHub {
	if b := running.Load(); b != nil {
		return b.stats
	}
	return nil
}
