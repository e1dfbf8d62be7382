package resilientws

import (
	"slices"
	"testing"
)

func fifoOf(n int) *fifo[int] {
	f := &fifo[int]{}
	for i := range n {
		f.push(i)
	}
	return f
}

func (f *fifo[T]) contents() []T { return slices.Clone(f.items[f.head:]) }

func TestFifoPushPopInOrder(t *testing.T) {
	f := fifoOf(3)
	for want := range 3 {
		if got := f.pop(); got != want {
			t.Fatalf("pop = %d, want %d", got, want)
		}
	}
	if f.len() != 0 || len(f.items) != 0 || f.head != 0 {
		t.Fatalf("drained fifo keeps items %v head %d", f.items, f.head)
	}
}

func TestFifoRemoveAtKeepsTheOrder(t *testing.T) {
	for n := 1; n <= 6; n++ {
		for i := range n {
			f := fifoOf(n)
			f.pop() // a popped slot in front, as in use
			f.push(n)
			if got := f.removeAt(i); got != i+1 {
				t.Fatalf("n=%d removeAt(%d) = %d", n, i, got)
			}
			want := []int{}
			for v := 1; v <= n; v++ {
				if v != i+1 {
					want = append(want, v)
				}
			}
			if got := f.contents(); !slices.Equal(got, want) {
				t.Fatalf("n=%d after removeAt(%d): %v, want %v", n, i, got, want)
			}
		}
	}
}

func TestFifoRemoveFuncFromAnIndex(t *testing.T) {
	f := fifoOf(8)
	removed := f.removeFunc(1, func(v *int) bool { return *v%2 == 0 })
	if !slices.Equal(removed, []int{2, 4, 6}) {
		t.Fatalf("removed %v, want [2 4 6] (0 is before the start index)", removed)
	}
	if got := f.contents(); !slices.Equal(got, []int{0, 1, 3, 5, 7}) {
		t.Fatalf("left %v", got)
	}
	if f.removeFunc(0, func(*int) bool { return false }) != nil {
		t.Fatal("removeFunc that removes nothing returned a slice")
	}
}

func TestFifoReclaimsPoppedSlots(t *testing.T) {
	f := &fifo[int]{}
	for i := range 10000 {
		f.push(i)
		f.push(i)
		f.pop()
	}
	if f.len() != 10000 {
		t.Fatalf("len %d", f.len())
	}
	if f.head > f.len() {
		t.Fatalf("%d popped slots kept for %d items", f.head, f.len())
	}
	if got := f.contents(); len(got) != 10000 || got[0] != 5000 {
		t.Fatalf("%d items from %d, want 10000 from 5000", len(got), got[0])
	}
	f.push(1)
	f.release()
	if f.items != nil || f.len() != 0 {
		t.Fatal("release kept the slice")
	}
}

func TestFifoRoomWakesEveryWaiterOnce(t *testing.T) {
	var r room
	if r.ch != nil {
		t.Fatal("a new room has waiters")
	}
	a, b := r.wait(), r.wait()
	if a != b || !(r.ch != nil) {
		t.Fatal("two waiters got different channels")
	}
	r.free()
	for _, ch := range []<-chan struct{}{a, b} {
		select {
		case <-ch:
		default:
			t.Fatal("free did not wake a waiter")
		}
	}
	if r.ch != nil {
		t.Fatal("room still has waiters after free")
	}
	r.free() // no waiter: nothing to do
}
