package httpcore

import "bytes"

// request is what the core needs from a request head. Its slices point into
// the head.
type request struct {
	method, target []byte
	head           bool // HEAD: send headers only
	keepAlive      keepAlive
	length         int64 // Content-Length, 0 if none
	chunked        bool  // a Transfer-Encoding was sent
}

// parseHead parses a complete request head (request line, header lines and
// the blank line). A non-zero status is the error response to send, with
// why as its reason.
func parseHead(h []byte) (req request, status int, why string) {
	line, rest := cutLine(h)
	// request-line = method SP request-target SP HTTP-version
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return req, 400, "malformed request line"
	}
	req.method = line[:sp1]
	if !isToken(req.method) {
		return req, 400, "malformed method"
	}
	line = line[sp1+1:]
	sp2 := bytes.IndexByte(line, ' ')
	if sp2 <= 0 {
		return req, 400, "malformed request line"
	}
	req.target, line = line[:sp2], line[sp2+1:]
	minor, status, why := parseVersion(line)
	if status != 0 {
		return req, status, why
	}
	target, ok := OriginForm(req.target)
	if !ok {
		return req, 400, "malformed request target"
	}
	req.target = target
	req.head = string(req.method) == "HEAD"
	if minor == 1 {
		req.keepAlive = kaDefault
	}

	var (
		host, sawLength bool
		connClose       bool
		connKeepAlive   bool
	)
	for len(rest) > 0 {
		line, rest = cutLine(rest)
		if len(line) == 0 {
			break // the blank line ending the head
		}
		if line[0] == ' ' || line[0] == '\t' {
			return req, 400, "obsolete line folding"
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return req, 400, "malformed header line"
		}
		name := line[:colon]
		if !isToken(name) {
			return req, 400, "malformed header name"
		}
		value := bytes.Trim(line[colon+1:], " \t")
		for _, c := range value {
			if (c < 0x20 && c != '\t') || c == 0x7f {
				return req, 400, "control character in header value"
			}
		}
		switch {
		case equalFold(name, "host"):
			if host {
				return req, 400, "more than one Host header"
			}
			host = true
		case equalFold(name, "content-length"):
			n, ok := parseLength(value)
			if !ok {
				return req, 400, "malformed Content-Length"
			}
			if sawLength && n != req.length {
				return req, 400, "conflicting Content-Length headers"
			}
			sawLength, req.length = true, n
		case equalFold(name, "transfer-encoding"):
			req.chunked = true
		case equalFold(name, "connection"):
			for _, tok := range bytes.Split(value, []byte(",")) {
				tok = bytes.Trim(tok, " \t")
				if equalFold(tok, "close") {
					connClose = true
				} else if equalFold(tok, "keep-alive") {
					connKeepAlive = true
				}
			}
		}
	}
	if req.chunked && sawLength {
		return req, 400, "both Transfer-Encoding and Content-Length"
	}
	if req.chunked && minor == 0 {
		return req, 400, "Transfer-Encoding in an HTTP/1.0 request"
	}
	if minor == 1 && !host {
		return req, 400, "HTTP/1.1 request without Host"
	}
	switch {
	case connClose:
		req.keepAlive = kaClose
	case minor == 0 && connKeepAlive:
		req.keepAlive = kaExplicit
	}
	return req, 0, ""
}

// cutLine splits off the first line, without its CRLF or LF.
func cutLine(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return b, nil
	}
	line, rest = b[:i], b[i+1:]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, rest
}

// parseVersion accepts HTTP/1.0 and HTTP/1.1; another well-formed version
// gets 505, anything else 400.
func parseVersion(v []byte) (minor int, status int, why string) {
	if len(v) != 8 || string(v[:5]) != "HTTP/" || v[6] != '.' || !isDigit(v[5]) || !isDigit(v[7]) {
		return 0, 400, "malformed HTTP version"
	}
	if v[5] != '1' || (v[7] != '0' && v[7] != '1') {
		return 0, 505, "only HTTP/1.0 and HTTP/1.1 are served"
	}
	return int(v[7] - '0'), 0, ""
}

// OriginForm returns the path and query of a request target. The
// absolute form (http://host/path), which servers must accept, is reduced
// to its path; anything else is not a target the core serves.
func OriginForm(t []byte) ([]byte, bool) {
	if len(t) > 0 && t[0] == '/' {
		return t, true
	}
	for _, scheme := range []string{"http://", "https://"} {
		if len(t) > len(scheme) && equalFold(t[:len(scheme)], scheme) {
			rest := t[len(scheme):]
			i := bytes.IndexByte(rest, '/')
			if i < 0 {
				if j := bytes.IndexByte(rest, '?'); j >= 0 {
					return append([]byte("/"), rest[j:]...), true
				}
				return []byte("/"), true
			}
			return rest[i:], true
		}
	}
	return nil, false
}

func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isToken reports whether b is an RFC 9110 token.
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tchar[c] {
			return false
		}
	}
	return true
}

var tchar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// equalFold compares ASCII case-insensitively, without allocating.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
