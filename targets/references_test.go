package targets_test

// timeoutStatus is what a reference answers a request head that did not
// arrive within --read-timeout, where it answers anything: the core and
// fasthttp close the connection without a word.
var timeoutStatus = map[string]int{"nethttp": 400}
