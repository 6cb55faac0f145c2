package boomer

import (
	"encoding/hex"
	"reflect"
	"testing"
	"time"
)

// TestMessageDecodedByLocust encodes messages in Go and has Locust's own
// Message.unserialize (msgpack in Python) decode them.
func TestMessageDecodedByLocust(t *testing.T) {
	py := locustPython(t)
	h := newStatsHub()
	s := h.newShard()
	s.success("GET", "/a", 1500*time.Microsecond, 10)
	s.failure("GET", "/b", 250*time.Millisecond, `refused 'x'`)
	stats, total, errs := h.collect().serialize()
	msgs := []message{
		{"client_ready", clientReadyVersion, "host_abc"},
		{"spawning", nil, "host_abc"},
		{"stats", map[string]any{"stats": stats, "stats_total": total, "errors": errs,
			"user_count": int64(3), "user_classes_count": map[string]int64{"LabUser": 3}}, "host_abc"},
		{"custom", map[string]any{"when": time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.Local), "big": int64(1) << 40, "f": 0.25}, "héllo"},
	}
	var in []string
	for _, m := range msgs {
		b, err := encodeMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		in = append(in, hex.EncodeToString(b))
	}
	var out []map[string]any
	runPython(t, py, `
import json, sys, datetime
from locust.rpc.protocol import Message
res = []
for h in json.load(sys.stdin):
    m = Message.unserialize(bytes.fromhex(h))
    d = m.data
    info = {"type": m.type, "node": m.node_id, "data_type": type(d).__name__}
    if m.type == "client_ready":
        info["is_minus_one"] = d == -1
    if m.type == "stats":
        e = d["stats"][0]
        info["name"] = e["name"]
        info["rt_keys"] = sorted(type(k).__name__ for k in e["response_times"])
        info["rps_keys"] = sorted(type(k).__name__ for k in e["num_reqs_per_sec"])
        info["total_reqs"] = d["stats_total"]["num_requests"]
        info["total_min"] = d["stats_total"]["min_response_time"]
        info["error"] = [v["error"] for v in d["errors"].values()]
        info["classes"] = d["user_classes_count"]
    if m.type == "custom":
        info["when"] = d["when"].isoformat()
        info["big"] = d["big"]
        info["f"] = d["f"]
    res.append(info)
print(json.dumps(res))
`, in, &out)
	if len(out) != len(msgs) {
		t.Fatalf("python decoded %d messages, want %d", len(out), len(msgs))
	}
	check := func(i int, key string, want any) {
		t.Helper()
		if got := out[i][key]; !reflect.DeepEqual(got, want) {
			t.Errorf("message %d (%s): %s = %#v, want %#v", i, msgs[i].Type, key, got, want)
		}
	}
	check(0, "is_minus_one", true)
	check(0, "node", "host_abc")
	check(1, "data_type", "NoneType")
	check(2, "name", "/a")
	check(2, "rt_keys", []any{"int"})
	check(2, "rps_keys", []any{"int"})
	check(2, "total_reqs", 2.0)
	check(2, "total_min", 1.5)
	check(2, "error", []any{`refused 'x'`})
	check(2, "classes", map[string]any{"LabUser": 3.0})
	check(3, "node", "héllo")
	check(3, "when", "2024-05-06T07:08:09.123456")
	check(3, "big", float64(int64(1)<<40))
	check(3, "f", 0.25)
}

// TestMessageFromLocust decodes messages that Locust's Message.serialize
// produced in Python.
func TestMessageFromLocust(t *testing.T) {
	py := locustPython(t)
	var out []string
	runPython(t, py, `
import json, sys, datetime
from locust.rpc.protocol import Message
msgs = [
    Message("ack", {"index": 2}, "master"),
    Message("spawn", {"user_classes_count": {"LabUser": 3, "CPUUser": 0}, "host": None,
                      "stop_timeout": None, "timestamp": 1700000000.25,
                      "parsed_options": {"target": "epoll", "tags": None, "num": 5, "lst": [1, "a"]}}, "master"),
    Message("custom", {1: "int key", "when": datetime.datetime(2024, 5, 6, 7, 8, 9, 123456)}, "master"),
    Message("quit", None, "master"),
]
print(json.dumps([m.serialize().hex() for m in msgs]))
`, nil, &out)
	var got []message
	for _, h := range out {
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		m, err := decodeMessage(b)
		if err != nil {
			t.Fatalf("decode %s: %v", h, err)
		}
		got = append(got, m)
	}
	if len(got) != 4 {
		t.Fatalf("got %d messages", len(got))
	}
	if d, _ := asStringMap(got[0].Data); got[0].Type != "ack" || d["index"] != int64(2) || got[0].NodeID != "master" {
		t.Errorf("ack: %#v", got[0])
	}
	spawn, ok := asStringMap(got[1].Data)
	if !ok {
		t.Fatalf("spawn data %#v", got[1].Data)
	}
	counts, _ := asStringMap(spawn["user_classes_count"])
	if n, _ := asInt(counts["LabUser"]); n != 3 {
		t.Errorf("spawn counts %#v", counts)
	}
	if ts, _ := asFloat(spawn["timestamp"]); ts != 1700000000.25 {
		t.Errorf("spawn timestamp %v", spawn["timestamp"])
	}
	if spawn["host"] != nil || spawn["stop_timeout"] != nil {
		t.Errorf("spawn host/stop_timeout %#v %#v", spawn["host"], spawn["stop_timeout"])
	}
	opts, _ := asStringMap(spawn["parsed_options"])
	if opts["target"] != "epoll" || !reflect.DeepEqual(opts["lst"], []any{int64(1), "a"}) {
		t.Errorf("parsed_options %#v", opts)
	}
	custom, ok := got[2].Data.(map[any]any)
	if !ok {
		t.Fatalf("custom with an int key decoded as %T", got[2].Data)
	}
	if custom[int64(1)] != "int key" {
		t.Errorf("custom %#v", custom)
	}
	if when, _ := custom["when"].(time.Time); !when.Equal(time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.Local)) {
		t.Errorf("datetime decoded as %#v", custom["when"])
	}
	if got[3].Type != "quit" || got[3].Data != nil {
		t.Errorf("quit: %#v", got[3])
	}
}

func TestDecodeMessageRejectsGarbage(t *testing.T) {
	for _, b := range [][]byte{nil, {0xc1}, {0x92, 0xa1, 'x', 0xc0}, {0x93, 0x01, 0xc0, 0xc0}} {
		if _, err := decodeMessage(b); err == nil {
			t.Errorf("decodeMessage(%x) succeeded", b)
		}
	}
}
