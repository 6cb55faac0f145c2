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
	"serverlab/targets/nethttp/reflisten"
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
	if len(r.TransferEncoding) > 0 {
		if rc != nil {
			rc.Lose()
		}
	} else if rc != nil {
		head = rc.Head(r.ContentLength)
	}

	var reply httpcore.Reply
	closing := false
	bad, why := 0, ""
	if head != nil {
		bad, why = reflisten.CheckHead(head)
	}
	switch {
	case bad != 0:
		reply, closing = reflisten.ErrorReply(bad, why), true
	case len(head) > httpcore.MaxHeadBytes:
		reply, closing = reflisten.ErrorReply(431, "request head over 8 KiB"), true
	case len(r.TransferEncoding) > 0:
		reply, closing = reflisten.ErrorReply(411, "chunked request bodies are not accepted; send Content-Length"), true
	case r.ContentLength > httpcore.MaxBodyBytes:
		reply, closing = reflisten.ErrorReply(413, "request body over 1 MiB"), true
	default:
		reply = h.env.Site.Route(r.Method, reflisten.Target(r.RequestURI), head)
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
