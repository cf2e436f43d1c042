package signaling

import (
	"github.com/pion/interceptor"
)

// headerCache is the innermost interceptor of every stream the relay
// receives. pion's NACK generator and receiver-report interceptors each
// parse the RTP header through interceptor.Attributes, and when the
// stream below hands them no attributes they allocate a map and a header
// for every packet. headerCache hands them one map per stream whose
// cached header it re-parses in place, so a received packet costs no
// allocation. The map is reused packet after packet: this is safe
// because one goroutine (the forwarder) reads a stream and the
// interceptors above use the header only during Read.
type headerCache struct{ interceptor.NoOp }

type headerCacheFactory struct{}

func (headerCacheFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &headerCache{}, nil
}

// BindRemoteStream wraps the stream's reader.
func (*headerCache) BindRemoteStream(_ *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
	attr := interceptor.Attributes{}
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		if a != nil {
			return r.Read(b, a) // the caller brought its own
		}
		n, got, err := r.Read(b, nil)
		if err != nil || got != nil {
			return n, got, err
		}
		// The first call stores a new header under the interceptor
		// package's key; later calls get that header back and re-parse it.
		h, err := attr.GetRTPHeader(b[:n])
		if err != nil {
			return 0, nil, err
		}
		if _, err := h.Unmarshal(b[:n]); err != nil {
			return 0, nil, err
		}
		return n, attr, nil
	})
}
