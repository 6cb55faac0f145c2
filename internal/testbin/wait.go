package testbin

import (
	"net/http"
	"net/url"
	"testing"
	"time"
)

// Eventually polls cond every 250 ms until it holds, and fails the test
// after d with what cond last saw.
func Eventually(t testing.TB, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, seen := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s; last saw %s", d, what, seen)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// PostForm posts v to u, as a Locust web UI's form does, and fails the
// test unless the answer is 200.
func PostForm(t testing.TB, u string, v url.Values) {
	t.Helper()
	res, err := http.PostForm(u, v)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s", u, res.Status)
	}
}
