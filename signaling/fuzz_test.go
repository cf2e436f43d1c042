package signaling

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzSignalMessage checks that ParseMessage never panics, that every
// refusal is ErrMalformed, and that what it accepts round-trips: a parsed
// message, encoded again, parses to the same message.
func FuzzSignalMessage(f *testing.F) {
	for _, s := range []string{
		`{"type":"join","token":"abc.def"}`,
		`{"type":"answer","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}`,
		`{"type":"candidate","candidate":{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}}`,
		`{"type":"candidate","candidate":null}`,
		`{"type":"leave"}`,
		`{"type":"end","reason":"conduct"}`,
		`{"type":"join"}`,
		`{"type":"join","token":"a","sdp":"x"}`,
		`{"type":"join","token":"a"} {}`,
		`[[[[[[]]]]]]`,
		`{"type":"candidate","candidate":{"candidate":"x","sdpMLineIndex":70000}}`,
		"\xff\xfe",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMessage(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := ParseMessage(again)
		if err != nil {
			t.Fatalf("re-encoded %s: %v", again, err)
		}
		b2, _ := json.Marshal(m2)
		if string(b2) != string(again) {
			t.Fatalf("round trip: %s != %s", b2, again)
		}
	})
}
