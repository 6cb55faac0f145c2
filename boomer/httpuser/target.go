package httpuser

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
)

// target is a base URL as Locust's HttpUser takes its host: a request for
// path goes to base+path, the two strings joined, so that the base's path,
// query and trailing slash reach the server as they do from a Python
// worker (-H http://h/app gives /app/ for "/"; -H http://h/ gives //).
type target struct {
	https  bool
	addr   string // host:port to dial
	host   string // the Host header
	origin string // scheme://host[:port], to tell other origins apart
	rest   string // the base after its authority: path, query, fragment, as given
}

// parseTarget checks base (http[s]://HOST[:PORT][anything]).
func parseTarget(base string) (target, error) {
	u, err := url.Parse(base)
	if err != nil {
		return target{}, fmt.Errorf("host %q: %v", base, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return target{}, fmt.Errorf("host %q: want http://HOST[:PORT] or https://HOST[:PORT]", base)
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	// The authority ends at the first of / ? #, as urllib3 splits it.
	after := base[strings.Index(base, "://")+3:]
	rest := ""
	if i := strings.IndexAny(after, "/?#"); i >= 0 {
		rest = after[i:]
	}
	return target{
		https:  u.Scheme == "https",
		addr:   net.JoinHostPort(u.Hostname(), port),
		host:   u.Host,
		origin: strings.ToLower(u.Scheme) + "://" + u.Host,
		rest:   rest,
	}, nil
}

// requestURI is what requests sends for path on this base, and the name
// Locust records it under (the request's path_url): base and path joined
// as strings, the fragment dropped, an empty path sent as /, an empty query
// dropped, and the characters requests quotes quoted.
func (t target) requestURI(path string) string {
	return pathURL(t.rest + path)
}

// pathURL is path_url of a URL's part after the authority.
func pathURL(s string) string {
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s = s[:i]
	}
	p, q, hasQ := strings.Cut(s, "?")
	switch {
	case p != "" && (!hasQ || q != ""):
		// The common case, "/path" or "/path?query", as it is.
	case p == "" && q != "":
		s = "/?" + q
	default:
		s = p
		if s == "" {
			s = "/"
		}
	}
	return requote(s)
}

// requote percent-encodes what requests' requote_uri encodes: every byte
// that is neither unreserved nor reserved in RFC 3986, nor a % already
// starting an escape.
func requote(s string) string {
	const safe = "!#$%&'()*+,/:;=?@[]~-._"
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && strings.IndexByte(safe, c) < 0 {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlnum(c) || strings.IndexByte(safe, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// secure runs the TLS handshake on a new connection to an https target,
// bounded by the connect timeout and the user's context. Certificates are
// verified, as HttpUser verifies them: against REQUESTS_CA_BUNDLE's roots
// when it names a file (locustfile.py gives Python workers the same), else
// the system's (SSL_CERT_FILE and SSL_CERT_DIR name others).
func (c *Client) secure(nc net.Conn) (net.Conn, error) {
	if !c.target.https {
		return nc, nil
	}
	ctx := c.ctx
	if c.opts.ConnectTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.ConnectTimeout)
		defer cancel()
	}
	roots, err := caBundle()
	if err != nil {
		nc.Close()
		return nil, &TLSError{err: err}
	}
	tc := tls.Client(nc, &tls.Config{ServerName: hostOnly(c.target.host), RootCAs: roots, MinVersion: tls.VersionTLS12})
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		if c.ctx.Err() != nil {
			return nil, ErrClosed
		}
		if isTimeout(err) || ctx.Err() != nil {
			return nil, &TimeoutError{Addr: c.target.addr, After: c.opts.ConnectTimeout, Connect: true, HTTPS: true}
		}
		return nil, &TLSError{err: err}
	}
	return tc, nil
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}

// TLSError is a failed TLS handshake: an untrusted or mismatched
// certificate, or a server that does not speak TLS.
type TLSError struct{ err error }

func (e *TLSError) Error() string { return e.err.Error() }
func (e *TLSError) Unwrap() error { return e.err }

// rawConn is the socket under a TLS connection, for the check whether a
// kept-alive connection was closed: a close_notify alert is bytes on it,
// as a FIN is.
func rawConn(c net.Conn) net.Conn {
	if tc, ok := c.(*tls.Conn); ok {
		return tc.NetConn()
	}
	return c
}

var (
	caOnce sync.Once
	caPool *x509.CertPool
	caErr  error
)

// caBundle is the pool of REQUESTS_CA_BUNDLE, read once; nil (the
// system's roots) when it is not set.
func caBundle() (*x509.CertPool, error) {
	caOnce.Do(func() {
		path := os.Getenv("REQUESTS_CA_BUNDLE")
		if path == "" {
			return
		}
		b, err := os.ReadFile(path)
		if err != nil {
			caErr = fmt.Errorf("REQUESTS_CA_BUNDLE: %w", err)
			return
		}
		caPool = x509.NewCertPool()
		if !caPool.AppendCertsFromPEM(b) {
			caErr = fmt.Errorf("REQUESTS_CA_BUNDLE %s: no PEM certificate in it", path)
		}
	})
	return caPool, caErr
}
