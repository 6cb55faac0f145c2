package httpuser

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
)

// ErrorName is the failure text Locust's HttpUser (on requests and urllib3)
// records for the same failure, e.g. "ConnectionRefusedError(111,
// 'Connection refused')" or "HTTPError('404 Client Error: Not Found for url:
// /x')", so that failures from Go and Python workers merge on the master and
// people can grep for the words they know.
func ErrorName(err error) string {
	var (
		status     *StatusError
		unexpected *UnexpectedStatusError
		timeout    *TimeoutError
		badLine    *BadStatusLineError
		short      *IncompleteReadError
		big        *BodyTooLargeError
		tlsErr     *TLSError
		errno      syscall.Errno
	)
	switch {
	case err == nil:
		return ""
	case errors.As(err, &status):
		return "HTTPError(" + pyRepr(status.Error()) + ")"
	case errors.As(err, &unexpected):
		// What Locust records for a catch_response block's failure(text).
		return "CatchResponseError(" + pyRepr(unexpected.Error()) + ")"
	case errors.As(err, &timeout):
		host, port, _ := net.SplitHostPort(timeout.Addr)
		conn := "HTTPConnection"
		if timeout.HTTPS {
			conn = "HTTPSConnection"
		}
		if timeout.Connect {
			// urllib3 2 names the connection by host and port and its
			// address, which the locustfile masks as Locust masks
			// "object at 0x...".
			return "ConnectTimeoutError(<" + conn + "(host=" + pyRepr(host) + ", port=" + port + ") at 0x....>, " +
				pyRepr("Connection to "+host+" timed out. (connect timeout="+pySeconds(timeout.After)+")") + ")"
		}
		return "ReadTimeout(ReadTimeoutError(" +
			pyRepr(conn+"Pool(host="+pyRepr(host)+", port="+port+"): Read timed out. (read timeout="+pySeconds(timeout.After)+")") + "))"
	case errors.Is(err, errTooManyRedirects):
		return "TooManyRedirects(" + pyRepr("Exceeded "+strconv.Itoa(maxRedirects)+" redirects.") + ")"
	case errors.As(err, &tlsErr):
		// Python quotes OpenSSL's words, Go's TLS stack has its own: the
		// class name is the same, the text says what Go saw.
		return "SSLError(" + pyRepr(tlsErr.Error()) + ")"
	case errors.Is(err, errRemoteDisconnected):
		return "RemoteDisconnected('Remote end closed connection without response')"
	case errors.As(err, &badLine):
		return "BadStatusLine(" + pyRepr(badLine.Line) + ")"
	case errors.As(err, &short):
		return "ChunkedEncodingError(ProtocolError(" + pyRepr("Connection broken: "+short.Error()) + ", " + short.Error() + "))"
	case errors.As(err, &big):
		// requests has no size cap; the name says which limit ran out,
		// never the size the server announced, so that it groups.
		return "ResponseTooLarge(" + pyRepr("Response body over "+strconv.FormatInt(big.Max, 10)+" bytes (max body)") + ")"
	case errors.Is(err, errMalformed):
		return "ProtocolError('Malformed response')"
	case errors.Is(err, errIncompleteRead):
		return "ChunkedEncodingError(ProtocolError('Connection broken: IncompleteRead'))"
	case errors.As(err, &errno):
		return pyOSErrorClass(errno) + "(" + strconv.Itoa(int(errno)) + ", " + pyRepr(strerror(errno)) + ")"
	}
	return "Exception(" + pyRepr(err.Error()) + ")"
}

// pyOSErrorClass is the OSError subclass Python raises for errno (PEP 3151).
func pyOSErrorClass(e syscall.Errno) string {
	switch e {
	case syscall.ECONNREFUSED:
		return "ConnectionRefusedError"
	case syscall.ECONNRESET:
		return "ConnectionResetError"
	case syscall.ECONNABORTED:
		return "ConnectionAbortedError"
	case syscall.EPIPE, syscall.ESHUTDOWN:
		return "BrokenPipeError"
	case syscall.ETIMEDOUT:
		return "TimeoutError"
	case syscall.EAGAIN, syscall.EALREADY, syscall.EINPROGRESS:
		return "BlockingIOError"
	case syscall.EINTR:
		return "InterruptedError"
	case syscall.EACCES, syscall.EPERM:
		return "PermissionError"
	case syscall.ENOENT:
		return "FileNotFoundError"
	}
	return "OSError"
}

// strerror is C's message for e: Go's table holds the same words, but
// starting with a lower-case letter.
func strerror(e syscall.Errno) string {
	s := e.Error()
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// pySeconds formats a timeout as Python prints the float the locustfile's
// options hold: 5.0, 0.5, 1e-05.
func pySeconds(d time.Duration) string {
	if d <= 0 {
		return "None"
	}
	v := d.Seconds()
	if v < 1e-4 || v >= 1e16 {
		return strconv.FormatFloat(v, 'e', -1, 64)
	}
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// pyRepr quotes s as Python's repr() quotes a str.
func pyRepr(s string) string {
	q := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		q = '"'
	}
	var b strings.Builder
	b.WriteByte(q)
	for _, r := range s {
		switch {
		case r == rune(q) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20, r == 0x7f:
			b.WriteString(`\x`)
			b.WriteString(hex2(byte(r)))
		case r < 0x7f || unicode.IsPrint(r):
			b.WriteRune(r)
		case r <= 0xff:
			b.WriteString(`\x`)
			b.WriteString(hex2(byte(r)))
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	b.WriteByte(q)
	return b.String()
}

func hex2(c byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[c>>4], digits[c&15]})
}
