//go:build !js

package resilientwstest

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// frame encodes one masked client frame with the given opcode and payload
// size (the payload is filled with the opcode, the mask key is zero).
func frame(op byte, size int) []byte {
	b := []byte{0x80 | op}
	switch {
	case size < 126:
		b = append(b, 0x80|byte(size))
	case size <= 0xffff:
		b = append(b, 0x80|126, 0, 0)
		binary.BigEndian.PutUint16(b[2:], uint16(size))
	default:
		b = append(b, 0x80|127, 0, 0, 0, 0, 0, 0, 0, 0)
		binary.BigEndian.PutUint64(b[2:], uint64(size))
	}
	b = append(b, 0, 0, 0, 0) // masking key
	return append(b, bytes.Repeat([]byte{op}, size)...)
}

func TestFrameFilterDropsPingsWhateverTheReadBoundaries(t *testing.T) {
	var stream, want []byte
	for _, f := range []struct {
		op   byte
		size int
	}{{0x1, 5}, {0x9, 0}, {0x2, 300}, {0x9, 125}, {0xA, 3}, {0x1, 70000}, {0x9, 4}, {0x8, 2}} {
		b := frame(f.op, f.size)
		stream = append(stream, b...)
		if f.op != opPing {
			want = append(want, b...)
		}
	}
	for _, step := range []int{1, 2, 3, 7, 13, 4096, len(stream)} {
		var f frameFilter
		var got []byte
		for i := 0; i < len(stream); i += step {
			in := bytes.Clone(stream[i:min(i+step, len(stream))])
			got = append(got, f.filter(in, true)...)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("read %d bytes at a time: got %d bytes, want %d", step, len(got), len(want))
		}
		var keep frameFilter
		if out := keep.filter(bytes.Clone(stream), false); !bytes.Equal(out, stream) {
			t.Fatalf("not dropping: the stream changed")
		}
	}
}
