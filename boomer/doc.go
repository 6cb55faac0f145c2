// Package boomer is a Locust worker written in Go. A real Locust master (2.x)
// drives it over ZeroMQ + msgpack exactly as it drives Python workers: it
// spawns and stops simulated users of the classes named in the locustfile,
// and receives their request statistics every few seconds. Without a master,
// a standalone Boomer runs the classes for a fixed time and prints a
// Locust-style summary.
//
// What else a Python worker does for its master, it does too: heartbeats
// that say spawning while the master ramps up, quit when it is stopped,
// the web UI's class edits (update_user_class: a class's host and tasks),
// and its newest log lines for the Logs tab, in a Python worker's form.
//
// Statistics follow Locust's stats.py to the byte where the master depends
// on it: response times are bucketed with Python's rounding, errors are
// keyed by the sha256 of Locust's repr-based key, and reports are deltas.
// Each user records into its own shard, so recording takes no lock shared
// between users; the reporter drains the shards.
//
// Users yield after every task that does not wait, and a connection
// attempt that fails at once takes at least 10 ms, so hundreds of users
// failing at once (a dial refused with EMFILE never blocks) cannot starve
// the goroutines that send heartbeats and reports, nor a master on the
// same machine. On quit the stats are
// sealed and the last report leaves before the users are waited for: a
// master waits only half a second for it. The worker logs its own totals
// at the end of each test ("test totals").
//
// The worker survives its master: a broken connection, a reconnect message
// or a master whose heartbeats stop (masters from 2.13 on send them) leads
// to reconnection with back-off; users keep running for
// Options.MasterGoneTimeout and are stopped after that, by a timer, even
// while a dial hangs; a master that acknowledges it again finds it with no
// users, as they belonged to a test that master does not know. It
// survives a hostile master too: it dials through a
// transport of its own that refuses ZMTP frames over 64 MiB before zmq4
// allocates them and bounds the handshake, so a peer that never greets
// (a frozen master's kernel still accepts) fails the dial.
package boomer
