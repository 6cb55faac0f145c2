package testbin

import (
	"encoding/csv"
	"os"
	"testing"
)

// CSV reads a CSV file such as Locust's: its header, then each row as a
// map from the header's names to the row's cells. An empty file fails the
// test, as does a file that is not CSV.
func CSV(t testing.TB, path string) (header []string, rows []map[string]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(recs) == 0 {
		t.Fatalf("%s is empty", path)
	}
	for _, r := range recs[1:] {
		m := map[string]string{}
		for i, h := range recs[0] {
			if i < len(r) {
				m[h] = r[i]
			}
		}
		rows = append(rows, m)
	}
	return recs[0], rows
}
