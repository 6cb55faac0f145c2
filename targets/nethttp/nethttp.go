// Package nethttpref is a reference model: Go's own net/http server (a
// goroutine per connection over the runtime's netpoller) serving the same
// site through httpcore.Site.Route. It shows where a mature general-purpose
// server lands against the hand-written models.
package nethttpref

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"serverlab/targets/httpcore"
	"serverlab/targets/reflisten"
	"serverlab/targets/server"
)

// Model is the net/http reference.
var Model = server.Model{
	Name:        "nethttp",
	Description: "reference: Go's net/http server",
	Serve:       serve,
}

type connKey struct{}

func serve(env *server.Env) error {
	ln, err := reflisten.New(env)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           handler{env},
		ReadHeaderTimeout: env.ReadTimeout,
		ReadTimeout:       env.ReadTimeout,
		// net/http starts the write deadline when the head is read, so a
		// /delay counts against it; the hand-written models time writes
		// only. Allowing the longest delay on top keeps /delay?ms=10000
		// working with the default write timeout; the handler sets the
		// real one before it writes.
		WriteTimeout: env.WriteTimeout + httpcore.MaxDelay,
		IdleTimeout:  env.IdleTimeout,
		// net/http allows 4 KiB over this before it answers 431 itself;
		// the handler enforces the exact limit from the raw head.
		MaxHeaderBytes: httpcore.MaxHeadBytes,
		ErrorLog:       env.Log,
		// OPTIONS * goes to the handler, which refuses it as the core
		// does, instead of net/http's own 200.
		DisableGeneralOptionsHandler: true,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
	}
	srv.SetKeepAlivesEnabled(true)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-env.Done:
	}
	ctx, cancel := context.WithTimeout(context.Background(), env.ShutdownTimeout)
	defer cancel()
	err = srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		env.Log.Printf("connections still busy after %v: closing them", env.ShutdownTimeout)
		srv.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

type handler struct{ env *server.Env }

func (h handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	stats := h.env.Stats
	stats.Request()
	var head []byte
	rc, _ := r.Context().Value(connKey{}).(*reflisten.Conn)
	if rc != nil {
		head = rc.Head(max(r.ContentLength, 0))
		if len(r.TransferEncoding) > 0 {
			rc.Lose() // a body of unknown length: the record no longer lines up
		}
	}
	var reply httpcore.Reply
	closing := false
	switch {
	case head != nil:
		// The core's checks and routing, on the bytes the client sent.
		reply, closing = h.env.Site.Answer(head)
	case len(r.TransferEncoding) > 0:
		reply, closing = httpcore.ErrorReply(411, "chunked request bodies are not accepted; send Content-Length"), true
	default:
		// The record was lost (more input pipelined than it keeps): what
		// the library parsed.
		reply, closing = answerParsed(h.env.Site, r.Method, r.RequestURI, r.ContentLength)
	}
	if reply.Delay > 0 {
		// A goroutine per connection: sleeping here holds up this client
		// alone, blocking or not.
		t := time.NewTimer(reply.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		}
	}

	// The write timeout counts from here, as the hand-written models
	// count it from their first write, not from when the head was read.
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(h.env.WriteTimeout))

	hd := w.Header()
	hd["Server"] = []string{httpcore.ServerHeader}
	hd["Content-Type"] = []string{reply.ContentType}
	hd["Content-Length"] = []string{strconv.Itoa(len(reply.Body))}
	if reply.Allow != "" {
		hd["Allow"] = []string{reply.Allow}
	}
	if closing {
		hd["Connection"] = []string{"close"}
	}
	w.WriteHeader(reply.Status)
	if r.Method != http.MethodHead {
		w.Write(reply.Body)
	}
	stats.Response(reply.Status)
}

// answerParsed is Site.Answer for a request whose raw head is not at hand.
func answerParsed(site *httpcore.Site, method, uri string, length int64) (httpcore.Reply, bool) {
	target, ok := httpcore.OriginForm([]byte(uri))
	switch {
	case !ok:
		return httpcore.ErrorReply(400, "malformed request target"), true
	case length > httpcore.MaxBodyBytes:
		return httpcore.ErrorReply(413, "request body over 1 MiB"), true
	}
	return site.Route(method, string(target), nil), false
}
