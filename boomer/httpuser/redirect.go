package httpuser

import (
	"errors"
	"net/url"
	"strings"
	"sync"

	"github.com/valyala/fasthttp"
)

// maxRedirects is requests' Session.max_redirects: the 31st redirect in a
// row fails the request.
const maxRedirects = 30

// errTooManyRedirects is requests' TooManyRedirects; ErrorName gives
// its Python text.
var errTooManyRedirects = errors.New("exceeded 30 redirects")

// absoluteURL is Locust's test for a path that names its own host
// (^https?:// without regard to case).
func absoluteURL(path string) bool {
	for _, scheme := range []string{"http://", "https://"} {
		if len(path) >= len(scheme) && strings.EqualFold(path[:len(scheme)], scheme) {
			return true
		}
	}
	return false
}

// fetch makes the request for path and follows redirects as requests
// does (301, 302, 303, 307 and 308 with a Location, at most
// maxRedirects), on this client's connection while they stay on its
// origin and on a connection of the new origin's when they leave it. After
// a 301, 302 or 303 the body and its headers are dropped, and the method
// becomes GET as requests' rebuild_method makes it (303 and 302 but for
// HEAD, 301 for POST); 307 and 308 repeat the request. The request is
// named after its first URL unless name is given, and its length is the
// last response's, as HttpUser records it.
func (c *Client) fetch(req *Request) (int64, string, error) {
	cl, uri, err := c.route(req.Path)
	name := req.Name
	if name == "" {
		name = uri
		if err != nil {
			name = req.Path
		}
	}
	if err != nil {
		return 0, name, err
	}
	for hops := 0; ; hops++ {
		n, loc, err := cl.do(req, uri, name)
		if err != nil || loc == "" {
			return n, name, err
		}
		if hops == maxRedirects {
			return n, name, errTooManyRedirects
		}
		req = rebuild(cl.status, req)
		here, err := url.Parse(cl.target.origin + uri)
		if err != nil {
			return n, name, err
		}
		next, err := url.Parse(requote(loc))
		if err != nil {
			return n, name, &RedirectError{Location: loc, err: err}
		}
		if cl, uri, err = c.route(here.ResolveReference(next).String()); err != nil {
			return n, name, &RedirectError{Location: loc, err: err}
		}
	}
}

// rebuild is the request a redirect with status code leads to, as
// requests' resolve_redirects and rebuild_method make it.
func rebuild(code int, req *Request) *Request {
	if code == 307 || code == 308 {
		return req
	}
	next := *req
	next.Method = req.method()
	if (code == 303 || code == 302) && next.Method != "HEAD" || code == 301 && next.Method == "POST" {
		next.Method = "GET"
	}
	next.Body = nil
	if len(req.Header) == 0 {
		return &next
	}
	next.Header = make([][2]string, 0, len(req.Header))
	for _, h := range req.Header {
		switch strings.ToLower(h[0]) {
		case "content-length", "content-type", "transfer-encoding":
		default:
			next.Header = append(next.Header, h)
		}
	}
	return &next
}

// route picks the client for path: this one for a path relative to the
// base or an absolute URL on its origin, else one for that URL's origin.
func (c *Client) route(path string) (*Client, string, error) {
	if !absoluteURL(path) {
		return c, c.target.requestURI(path), nil
	}
	t, err := parseTarget(path)
	if err != nil {
		return nil, "", err
	}
	uri := pathURL(t.rest)
	if t.origin == c.target.origin {
		return c, uri, nil
	}
	o, err := c.others.get(c, t.origin)
	return o, uri, err
}

// redirectTo is the Location of a redirect that requests follows, or "".
func redirectTo(h *fasthttp.ResponseHeader) string {
	switch h.StatusCode() {
	case 301, 302, 303, 307, 308:
		return string(h.Peek("Location"))
	}
	return ""
}

// origins holds a user's connections to the origins its redirects led
// to, as requests' session keeps a pool per host.
type origins struct {
	mu sync.Mutex
	m  map[string]*Client
}

// maxOrigins bounds the connections a user keeps open besides its own.
const maxOrigins = 4

func (o *origins) get(parent *Client, origin string) (*Client, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if cl, ok := o.m[origin]; ok {
		return cl, nil
	}
	if o.m == nil {
		o.m = map[string]*Client{}
	}
	if len(o.m) >= maxOrigins {
		for k, cl := range o.m {
			cl.Close()
			delete(o.m, k)
		}
	}
	cl, err := New(parent.ctx, origin, parent.opts)
	if err != nil {
		return nil, err
	}
	o.m[origin] = cl
	return cl, nil
}

func (o *origins) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for k, cl := range o.m {
		cl.Close()
		delete(o.m, k)
	}
}

// RedirectError is a Location that cannot be followed.
type RedirectError struct {
	Location string
	err      error
}

func (e *RedirectError) Error() string { return "redirect to " + e.Location + ": " + e.err.Error() }
func (e *RedirectError) Unwrap() error { return e.err }
