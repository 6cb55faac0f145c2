package httpcore

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// maxSiteBytes bounds what LoadSite keeps in memory: the site is small by
// design, and serving from memory keeps disk I/O out of the comparison.
const maxSiteBytes = 64 << 20

// MaxCPU is the largest n /cpu accepts.
const MaxCPU = 100000

// Site is the content every model serves: the docroot's files, read once at
// start, and the dynamic routes /echo, /delay and /cpu.
//
// Serving only what was read at start is also what makes traversal
// impossible: a request can name only a file that LoadSite found inside the
// docroot, never a path the kernel would resolve.
type Site struct {
	files    map[string]file // by URL path: "/index.html"
	notFound []byte
	obs      Observer
}

type file struct {
	contentType string
	body        []byte
}

// LoadSite reads every regular file under docroot. Symlinks are followed only
// when they resolve inside the docroot. obs may be nil.
func LoadSite(docroot string, obs Observer) (*Site, error) {
	root, err := filepath.Abs(docroot)
	if err != nil {
		return nil, fmt.Errorf("docroot %s: %v", docroot, err)
	}
	root, err = filepath.EvalSymlinks(root)
	if err != nil {
		return nil, fmt.Errorf("docroot %s: %v", docroot, unwrapPath(err))
	}
	st, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("docroot %s: %v", docroot, unwrapPath(err))
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("docroot %s: not a directory", docroot)
	}
	if obs == nil {
		obs = nopObserver{}
	}
	s := &Site{files: map[string]file{}, obs: obs}
	total := 0
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			return nil // a dangling symlink serves nothing
		}
		if real != root && !strings.HasPrefix(real, root+string(filepath.Separator)) {
			return nil // points out of the docroot
		}
		if st, err := os.Stat(real); err != nil || !st.Mode().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		body, err := os.ReadFile(real)
		if err != nil {
			return err
		}
		total += len(body)
		if total > maxSiteBytes {
			return fmt.Errorf("more than %d MiB of files", maxSiteBytes>>20)
		}
		s.files["/"+filepath.ToSlash(rel)] = file{contentType: ContentType(rel), body: body}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("docroot %s: %v", docroot, unwrapPath(err))
	}
	nf, ok := s.files["/notfound.html"]
	if !ok {
		return nil, fmt.Errorf("docroot %s: no notfound.html", docroot)
	}
	s.notFound = nf.body
	return s, nil
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

type nopObserver struct{}

func (nopObserver) Request()     {}
func (nopObserver) Response(int) {}

// ContentType is the Content-Type served for a file name. A fixed table, not
// the system's mime.types, so that every machine serves the same bytes.
func ContentType(name string) string {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".html", ".htm":
		return "text/html; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".md":
		return "text/markdown; charset=utf-8"
	case ".txt":
		return "text/plain; charset=utf-8"
	case ".json":
		return "application/json"
	case ".svg":
		return "image/svg+xml"
	case ".jpg", ".jpeg":
		return "image/jpeg"
	case ".png":
		return "image/png"
	case ".gif":
		return "image/gif"
	case ".webp":
		return "image/webp"
	case ".ico":
		return "image/x-icon"
	}
	return "application/octet-stream"
}

const textPlain = "text/plain; charset=utf-8"

// Route resolves one request to its Reply. The reference servers call it
// with what their library parsed; head is the raw request head, for /echo.
func (s *Site) Route(method, target string, head []byte) Reply {
	r := s.route([]byte(method), []byte(target), head)
	if len(head) > 0 && len(r.Body) > 0 && &r.Body[0] == &head[0] {
		r.Body = bytes.Clone(r.Body)
	}
	return r
}

func (s *Site) route(method, target, head []byte) Reply {
	if !bytes.Equal(method, []byte("GET")) && !bytes.Equal(method, []byte("HEAD")) {
		return Reply{Status: 405, ContentType: textPlain, Body: []byte("405 Method Not Allowed\n"), Allow: "GET, HEAD"}
	}
	path, query := target, []byte(nil)
	if i := bytes.IndexByte(target, '?'); i >= 0 {
		path, query = target[:i], target[i+1:]
	}
	if !bytes.Contains(path, []byte("%")) {
		// The common case, without allocating.
		if !cleanPath(path) {
			return ErrorReply(400, "bad path")
		}
		return s.lookup(path, query, head)
	}
	decoded, ok := unescape(path)
	if !ok || !cleanPath(decoded) {
		return ErrorReply(400, "bad path")
	}
	return s.lookup(decoded, query, head)
}

func (s *Site) lookup(path, query, head []byte) Reply {
	switch string(path) {
	case "/echo":
		return Reply{Status: 200, ContentType: textPlain, Body: head}
	case "/delay":
		return delayReply(query)
	case "/cpu":
		return cpuReply(query)
	}
	if path[len(path)-1] == '/' {
		if f, ok := s.files[string(path)+"index.html"]; ok {
			return Reply{Status: 200, ContentType: f.contentType, Body: f.body}
		}
	} else if f, ok := s.files[string(path)]; ok {
		return Reply{Status: 200, ContentType: f.contentType, Body: f.body}
	}
	return Reply{Status: 404, ContentType: "text/html; charset=utf-8", Body: s.notFound}
}

// cleanPath accepts an absolute path with no empty, "." or ".." segment, no
// backslash and no control byte: anything else is an attempt to leave the
// docroot or a confused client, and gets 400.
func cleanPath(p []byte) bool {
	if len(p) == 0 || p[0] != '/' {
		return false
	}
	for _, c := range p {
		if c < 0x20 || c == 0x7f || c == '\\' {
			return false
		}
	}
	for i := 1; i <= len(p); {
		j := bytes.IndexByte(p[i:], '/')
		if j < 0 {
			j = len(p) - i
		}
		seg := p[i : i+j]
		last := i+j == len(p)
		if (len(seg) == 0 && !last) || string(seg) == "." || string(seg) == ".." {
			return false
		}
		i += j + 1
	}
	return true
}

// unescape decodes %XX once. A '%' that does not start a valid escape is an
// error. Double encoding ("%252e") decodes to a literal "%2e", which names no
// file: it gets 404, never a parent directory.
func unescape(p []byte) ([]byte, bool) {
	out := make([]byte, 0, len(p))
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c != '%' {
			out = append(out, c)
			continue
		}
		if i+2 >= len(p) {
			return nil, false
		}
		h, ok1 := unhex(p[i+1])
		l, ok2 := unhex(p[i+2])
		if !ok1 || !ok2 {
			return nil, false
		}
		out = append(out, h<<4|l)
		i += 2
	}
	return out, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// param returns the value of key in a query string, undecoded.
func param(query []byte, key string) ([]byte, bool) {
	for len(query) > 0 {
		kv := query
		if i := bytes.IndexByte(query, '&'); i >= 0 {
			kv, query = query[:i], query[i+1:]
		} else {
			query = nil
		}
		k, v := kv, []byte(nil)
		if i := bytes.IndexByte(kv, '='); i >= 0 {
			k, v = kv[:i], kv[i+1:]
		}
		if string(k) == key {
			return v, true
		}
	}
	return nil, false
}

func atoi(b []byte, max int) (int, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n <= max
}

func delayReply(query []byte) Reply {
	v, ok := param(query, "ms")
	if !ok {
		return ErrorReply(400, "/delay needs ms=0..10000")
	}
	ms, ok := atoi(v, int(MaxDelay/time.Millisecond))
	if !ok {
		return ErrorReply(400, "/delay needs ms=0..10000")
	}
	block := false
	if b, ok := param(query, "block"); ok {
		switch string(b) {
		case "1", "true":
			block = true
		case "0", "false":
		default:
			return ErrorReply(400, "/delay block must be 0 or 1")
		}
	}
	return Reply{
		Status:      200,
		ContentType: textPlain,
		Body:        []byte("delayed " + strconv.Itoa(ms) + " ms\n"),
		Delay:       time.Duration(ms) * time.Millisecond,
		Block:       block,
	}
}

func cpuReply(query []byte) Reply {
	n := 1000
	if v, ok := param(query, "n"); ok {
		var valid bool
		n, valid = atoi(v, MaxCPU)
		if !valid || n < 1 {
			return ErrorReply(400, "/cpu needs n=1.."+strconv.Itoa(MaxCPU))
		}
	}
	return Reply{Status: 200, ContentType: textPlain,
		Body: []byte("cpu n=" + strconv.Itoa(n) + " result=" + strconv.FormatUint(CPUWork(n), 16) + "\n")}
}

// CPUWork is n units of deterministic work: 1000 rounds of a multiply-xor
// hash each, a dependency chain the compiler cannot shorten or skip.
func CPUWork(n int) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < n*1000; i++ {
		h ^= uint64(i)
		h *= 1099511628211
	}
	return h
}

// ErrorReply is the core's answer to a request it refuses: the status, and
// a plain-text body that names it and says why.
func ErrorReply(status int, why string) Reply {
	return Reply{Status: status, ContentType: textPlain,
		Body: []byte(strconv.Itoa(status) + " " + StatusText(status) + ": " + why + "\n")}
}

// StatusText is the reason phrase of the statuses the core sends.
func StatusText(status int) string {
	switch status {
	case 200:
		return "OK"
	case 400:
		return "Bad Request"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 408:
		return "Request Timeout"
	case 411:
		return "Length Required"
	case 413:
		return "Content Too Large"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 501:
		return "Not Implemented"
	case 503:
		return "Service Unavailable"
	case 505:
		return "HTTP Version Not Supported"
	}
	return "Unknown"
}
