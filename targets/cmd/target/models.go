package main

import (
	"serverlab/targets/server"

	"serverlab/targets/busypoll"
	"serverlab/targets/epoll"
	"serverlab/targets/fasthttp"
	"serverlab/targets/goroutine"
	"serverlab/targets/nethttp"
	"serverlab/targets/poll"
	"serverlab/targets/prefork"
	"serverlab/targets/process"
	"serverlab/targets/reactor"
	"serverlab/targets/select"
	"serverlab/targets/single"
	"serverlab/targets/thread"
	"serverlab/targets/threadpool"
)

// models in the order of the journey: blocking, processes, threads,
// multiplexing, event loops, then the references.
var models = []server.Model{
	single.Model,
	process.Model,
	prefork.Model,
	thread.Model,
	threadpool.Model,
	goroutine.Model,
	selectmodel.Model,
	poll.Model,
	busypoll.Model,
	epoll.Model,
	reactor.Model,
	fasthttpref.Model,
	nethttpref.Model,
}
