// Package fasthttpref is a reference model: valyala/fasthttp's server (a
// pool of worker goroutines over the runtime's netpoller, with buffers and
// request objects reused across requests) serving the same site through
// httpcore.Site.Route.
package fasthttpref

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/valyala/fasthttp"

	"serverlab/targets/httpcore"
	"serverlab/targets/reflisten"
	"serverlab/targets/server"
)

// Model is the fasthttp reference.
var Model = server.Model{
	Name:        "fasthttp",
	Description: "reference: valyala/fasthttp's server",
	Serve:       serve,
}

func serve(env *server.Env) error {
	ln, err := reflisten.New(env)
	if err != nil {
		return err
	}
	h := handler{env}
	srv := &fasthttp.Server{
		Handler:      h.serve,
		ErrorHandler: h.failed,
		Name:         httpcore.ServerHeader,
		// fasthttp cannot parse a head longer than its read buffer: this is
		// the 8 KiB head limit.
		ReadBufferSize: httpcore.MaxHeadBytes,
		// The first read of each request waits up to IdleTimeout on a
		// keep-alive connection, then ReadTimeout runs from its first byte.
		ReadTimeout: env.ReadTimeout,
		IdleTimeout: env.IdleTimeout,
		// fasthttp sets the write deadline after the handler returns, so a
		// /delay does not count against it.
		WriteTimeout:                  env.WriteTimeout,
		MaxRequestBodySize:            httpcore.MaxBodyBytes,
		DisableHeaderNamesNormalizing: true,
		DisablePreParseMultipartForm:  true,
		NoDefaultContentType:          true,
		Logger:                        env.Log,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-env.Done:
	}
	ctx, cancel := context.WithTimeout(context.Background(), env.ShutdownTimeout)
	defer cancel()
	if err := srv.ShutdownWithContext(ctx); errors.Is(err, context.DeadlineExceeded) {
		env.Log.Printf("connections still busy after %v: leaving them to the runtime", env.ShutdownTimeout)
		return nil
	}
	if err := <-served; err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

type handler struct{ env *server.Env }

func (h handler) serve(ctx *fasthttp.RequestCtx) {
	stats := h.env.Stats
	stats.Request()
	length := ctx.Request.Header.ContentLength()
	if length == -2 {
		length = 0 // neither Content-Length nor Transfer-Encoding: no body
	}
	rc, _ := ctx.Conn().(*reflisten.Conn)
	var head []byte
	if rc != nil {
		head = rc.Head(int64(max(length, 0)))
		if length < 0 {
			rc.Lose() // chunked: a body of unknown length
		}
	}

	var reply httpcore.Reply
	closing := false
	switch {
	case head != nil:
		// The core's checks and routing, on the bytes the client sent:
		// fasthttp lets through what the core refuses (a header name with
		// a space, HTTP/2.0, Transfer-Encoding: identity).
		reply, closing = h.env.Site.Answer(head)
	case length == -1:
		reply, closing = httpcore.ErrorReply(411, "chunked request bodies are not accepted; send Content-Length"), true
	default:
		// The record was lost (more input pipelined than it keeps): what
		// the library parsed.
		target, ok := httpcore.OriginForm(ctx.RequestURI())
		if !ok {
			reply, closing = httpcore.ErrorReply(400, "malformed request target"), true
		} else {
			reply = h.env.Site.Route(string(ctx.Method()), string(target), nil)
		}
	}
	if reply.Delay > 0 {
		// fasthttp runs each connection's handler on a worker goroutine of
		// its own: sleeping holds up this client alone, blocking or not.
		time.Sleep(reply.Delay)
	}
	h.write(ctx, reply, closing)
}

// failed answers a request fasthttp could not read, with the core's status
// and body where the core has one.
func (h handler) failed(ctx *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	var reply httpcore.Reply
	var ne net.Error
	switch {
	case errors.As(err, &small):
		reply = httpcore.ErrorReply(431, "request head over 8 KiB")
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		reply = httpcore.ErrorReply(413, "request body over 1 MiB")
	case errors.As(err, &ne) && ne.Timeout():
		reply = httpcore.ErrorReply(408, "the request did not arrive in time")
	default:
		reply = httpcore.ErrorReply(400, "malformed request")
	}
	h.env.Stats.Request()
	h.write(ctx, reply, true) // fasthttp closes after an error anyway
}

func (h handler) write(ctx *fasthttp.RequestCtx, reply httpcore.Reply, closing bool) {
	ctx.SetStatusCode(reply.Status)
	// The core's reason phrase, not fasthttp's ("Request Entity Too Large").
	ctx.Response.Header.SetStatusMessage([]byte(httpcore.StatusText(reply.Status)))
	ctx.Response.Header.SetContentType(reply.ContentType)
	if reply.Allow != "" {
		ctx.Response.Header.Set("Allow", reply.Allow)
	}
	if closing {
		ctx.SetConnectionClose()
	}
	// Also for HEAD: fasthttp leaves the body out but keeps its length.
	ctx.SetBody(reply.Body)
	h.env.Stats.Response(reply.Status)
}
