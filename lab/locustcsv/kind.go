package locustcsv

import (
	"regexp"
	"strings"
)

// Failure kinds, the columns of the comparison: what a model does when
// overloaded shows in which of these its clients see.
const (
	KindEMFILE  = "EMFILE"  // a process ran out of file descriptors
	KindENFILE  = "ENFILE"  // the system ran out of them
	KindRefused = "refused" // nothing accepted: backlog full or server gone
	KindReset   = "reset"   // connection reset, broken pipe
	KindClosed  = "closed"  // closed without a response
	KindTimeout = "timeout"
	KindPorts   = "EADDRNOTAVAIL" // the client ran out of ephemeral ports
	KindHTTP4xx = "HTTP 4xx"
	KindHTTP5xx = "HTTP 5xx"
	KindOther   = "other"
)

// Kinds lists every kind in the order reports show them.
var Kinds = []string{KindEMFILE, KindENFILE, KindRefused, KindReset, KindClosed,
	KindTimeout, KindPorts, KindHTTP5xx, KindHTTP4xx, KindOther}

var httpStatusRE = regexp.MustCompile(`\b([45])\d\d (Client|Server) Error\b`)

// Kind classifies the Error column of _failures.csv, as written by
// Locust's HttpUser (requests/urllib3) and by the Go worker, which spells
// errors the same way.
func Kind(msg string) string {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "too many open files in system"), strings.Contains(m, "errno 23]"), strings.Contains(m, "oserror(23,"):
		return KindENFILE
	case strings.Contains(m, "too many open files"), strings.Contains(m, "errno 24]"), strings.Contains(m, "oserror(24,"):
		return KindEMFILE
	case strings.Contains(m, "cannot assign requested address"), strings.Contains(m, "errno 99]"):
		return KindPorts
	case strings.Contains(m, "connection refused"), strings.Contains(m, "connectionrefusederror"):
		return KindRefused
	case strings.Contains(m, "connection reset"), strings.Contains(m, "connectionreseterror"),
		strings.Contains(m, "broken pipe"), strings.Contains(m, "brokenpipeerror"):
		return KindReset
	case strings.Contains(m, "remotedisconnected"), strings.Contains(m, "connection aborted"),
		strings.Contains(m, "closed connection without response"), strings.Contains(m, "incompleteread"):
		return KindClosed
	case strings.Contains(m, "timeout"), strings.Contains(m, "timed out"):
		return KindTimeout
	}
	if s := httpStatusRE.FindStringSubmatch(msg); s != nil {
		if s[1] == "4" {
			return KindHTTP4xx
		}
		return KindHTTP5xx
	}
	return KindOther
}
