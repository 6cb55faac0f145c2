package boomer

import (
	"bytes"
	"fmt"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// message is one Locust RPC message: on the wire, the msgpack array
// [type, data, node_id] in a single ZeroMQ frame.
type message struct {
	Type   string
	Data   any
	NodeID string
}

// Locust's datetime encoding (rpc/protocol.py); naive, in the sender's zone.
const pyDatetimeLayout = "20060102T15:04:05.000000"

func encodeMessage(m message) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	if err := enc.Encode([]any{m.Type, toWire(m.Data), m.NodeID}); err != nil {
		return nil, fmt.Errorf("encode %s message: %w", m.Type, err)
	}
	return buf.Bytes(), nil
}

// toWire turns values Python's side would not decode as Locust does into
// their Locust forms (datetimes become {"__datetime__": true, ...}).
func toWire(v any) any {
	switch v := v.(type) {
	case time.Time:
		return map[string]any{"__datetime__": true, "as_str": v.Format(pyDatetimeLayout)}
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = toWire(x)
		}
		return out
	case map[any]any:
		out := make(map[any]any, len(v))
		for k, x := range v {
			out[k] = toWire(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = toWire(x)
		}
		return out
	}
	return v
}

func decodeMessage(b []byte) (message, error) {
	dec := msgpack.NewDecoder(bytes.NewReader(b))
	dec.UseLooseInterfaceDecoding(true)
	dec.SetMapDecoder(decodeMap)
	n, err := dec.DecodeArrayLen()
	if err != nil {
		return message{}, fmt.Errorf("decode message: %w", err)
	}
	if n != 3 {
		return message{}, fmt.Errorf("decode message: want a 3-element array, got %d elements", n)
	}
	var m message
	if m.Type, err = dec.DecodeString(); err != nil {
		return message{}, fmt.Errorf("decode message type: %w", err)
	}
	if m.Data, err = dec.DecodeInterfaceLoose(); err != nil {
		return message{}, fmt.Errorf("decode %s message data: %w", m.Type, err)
	}
	if m.NodeID, err = decodeStringOrNil(dec); err != nil {
		return message{}, fmt.Errorf("decode %s message node id: %w", m.Type, err)
	}
	return m, nil
}

func decodeStringOrNil(dec *msgpack.Decoder) (string, error) {
	v, err := dec.DecodeInterfaceLoose()
	if err != nil {
		return "", err
	}
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case []byte:
		return string(v), nil
	}
	return "", fmt.Errorf("not a string: %T", v)
}

// decodeMap decodes maps with string keys as map[string]any and any other
// map (Python allows int keys) as map[any]any; Locust's datetime maps
// become time.Time.
func decodeMap(dec *msgpack.Decoder) (any, error) {
	n, err := dec.DecodeMapLen()
	if err != nil || n < 0 {
		return nil, err
	}
	keys := make([]any, n)
	vals := make([]any, n)
	allStrings := true
	for i := 0; i < n; i++ {
		if keys[i], err = dec.DecodeInterfaceLoose(); err != nil {
			return nil, err
		}
		if vals[i], err = dec.DecodeInterfaceLoose(); err != nil {
			return nil, err
		}
		if _, ok := keys[i].(string); !ok {
			allStrings = false
		}
	}
	if !allStrings {
		m := make(map[any]any, n)
		for i, k := range keys {
			if b, ok := k.([]byte); ok {
				k = string(b) // []byte is not a valid map key
			}
			m[k] = vals[i]
		}
		return m, nil
	}
	m := make(map[string]any, n)
	for i, k := range keys {
		m[k.(string)] = vals[i]
	}
	if _, ok := m["__datetime__"]; ok {
		if s, ok := m["as_str"].(string); ok {
			if t, err := time.ParseInLocation(pyDatetimeLayout, s, time.Local); err == nil {
				return t, nil
			}
		}
	}
	return m, nil
}

// Accessors for decoded message data, which comes from Python and may use
// ints where floats are expected and the reverse.

func asFloat(v any) (float64, bool) {
	switch v := v.(type) {
	case int64:
		return float64(v), true
	case uint64:
		return float64(v), true
	case float64:
		return v, true
	case float32:
		return float64(v), true
	}
	return 0, false
}

func asInt(v any) (int64, bool) {
	switch v := v.(type) {
	case int64:
		return v, true
	case uint64:
		return int64(v), true
	case float64:
		return int64(v), v == float64(int64(v))
	}
	return 0, false
}

func asStringMap(v any) (map[string]any, bool) {
	switch v := v.(type) {
	case map[string]any:
		return v, true
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			s, ok := k.(string)
			if !ok {
				return nil, false
			}
			out[s] = x
		}
		return out, true
	case nil:
		return map[string]any{}, true
	}
	return nil, false
}
