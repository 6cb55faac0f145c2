package httpuser

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// The expected names are what Locust's HttpUser recorded for the same
// failures (Locust 2.47.0 on requests 2.34 and urllib3 2.8, with the
// connection's address masked by the locustfile); boomer/itest compares
// them with a Python worker's on every run.
func TestErrorName(t *testing.T) {
	dial := func(e syscall.Errno) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", e)}
	}
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{dial(syscall.ECONNREFUSED), "ConnectionRefusedError(111, 'Connection refused')"},
		{&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("socket", syscall.EMFILE)}, "OSError(24, 'Too many open files')"},
		{&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, "ConnectionResetError(104, 'Connection reset by peer')"},
		{fmt.Errorf("write: %w", syscall.EPIPE), "BrokenPipeError(32, 'Broken pipe')"},
		{dial(syscall.EADDRNOTAVAIL), "OSError(99, 'Cannot assign requested address')"},
		{dial(syscall.ENFILE), "OSError(23, 'Too many open files in system')"},
		{dial(syscall.ETIMEDOUT), "TimeoutError(110, 'Connection timed out')"},
		{errRemoteDisconnected, "RemoteDisconnected('Remote end closed connection without response')"},
		{&StatusError{Status: 404, Reason: "Not Found", URL: "/missing"}, "HTTPError('404 Client Error: Not Found for url: /missing')"},
		{&StatusError{Status: 500, Reason: "Internal Server Error", URL: "/500?a=1"}, "HTTPError('500 Server Error: Internal Server Error for url: /500?a=1')"},
		{&StatusError{Status: 503, URL: "/"}, "HTTPError('503 Server Error: Service Unavailable for url: /')"},
		{&StatusError{Status: 404, Reason: "Not Found", URL: "it's"}, `HTTPError("404 Client Error: Not Found for url: it's")`},
		{&TimeoutError{Addr: "127.0.0.1:8080", After: 500 * time.Millisecond},
			`ReadTimeout(ReadTimeoutError("HTTPConnectionPool(host='127.0.0.1', port=8080): Read timed out. (read timeout=0.5)"))`},
		{&TimeoutError{Addr: "127.0.0.1:8080", After: 5 * time.Second, Connect: true},
			"ConnectTimeoutError(<HTTPConnection(host='127.0.0.1', port=8080) at 0x....>, 'Connection to 127.0.0.1 timed out. (connect timeout=5.0)')"},
		{&TimeoutError{Addr: "127.0.0.1:8080", After: 10 * time.Microsecond},
			`ReadTimeout(ReadTimeoutError("HTTPConnectionPool(host='127.0.0.1', port=8080): Read timed out. (read timeout=1e-05)"))`},
		{&BadStatusLineError{Line: "garbage\r\n"}, `BadStatusLine('garbage\r\n')`},
		{&BadStatusLineError{Line: "caf\u00e9\u0085"}, `BadStatusLine('café\x85')`},
		{&IncompleteReadError{Read: 3, Expected: 97},
			"ChunkedEncodingError(ProtocolError('Connection broken: IncompleteRead(3 bytes read, 97 more expected)', IncompleteRead(3 bytes read, 97 more expected)))"},
		{errors.New("odd\tthing"), `Exception('odd\tthing')`},
	}
	for _, tt := range tests {
		if got := ErrorName(tt.err); got != tt.want {
			t.Errorf("ErrorName(%v) = %s, want %s", tt.err, got, tt.want)
		}
	}
}

func TestPyRepr(t *testing.T) {
	tests := map[string]string{
		"":          "''",
		"a":         "'a'",
		"it's":      `"it's"`,
		`say "hi"`:  `'say "hi"'`,
		`both ' "`:  `'both \' "'`,
		"back\\sl":  `'back\\sl'`,
		"nl\n\x01":  `'nl\n\x01'`,
		"unicode é": "'unicode é'",
	}
	for in, want := range tests {
		if got := pyRepr(in); got != want {
			t.Errorf("pyRepr(%q) = %s, want %s", in, got, want)
		}
	}
}
