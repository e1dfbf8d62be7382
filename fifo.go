package resilientws

// fifo is a first-in, first-out queue in one slice. It reclaims the slots
// of what it pops as it goes, so a queue that is drained often keeps no more
// than its largest backlog. Not safe for concurrent use: its owner's lock
// guards it. The send queue, the unconfirmed log and the event queue are
// fifos.
type fifo[T any] struct {
	items []T // items[head:] are queued, oldest first
	head  int
}

// fifoCompactAt is the least number of popped slots worth copying the queue
// down for.
const fifoCompactAt = 64

// len returns the number of items queued.
func (f *fifo[T]) len() int { return len(f.items) - f.head }

// push adds v at the back.
func (f *fifo[T]) push(v T) { f.items = append(f.items, v) }

// pushFront puts vs, in their order, ahead of every item queued.
func (f *fifo[T]) pushFront(vs []T) {
	if len(vs) <= f.head {
		f.head -= len(vs)
		copy(f.items[f.head:], vs)
		return
	}
	items := make([]T, 0, len(vs)+f.len())
	items = append(items, vs...)
	f.items, f.head = append(items, f.items[f.head:]...), 0
}

// at returns the i-th oldest item (0 is the oldest), to read or update in
// place. i must be in [0, len()).
func (f *fifo[T]) at(i int) *T { return &f.items[f.head+i] }

// pop removes and returns the oldest item. The queue must not be empty.
func (f *fifo[T]) pop() T {
	var zero T
	v := f.items[f.head]
	f.items[f.head] = zero
	f.head++
	f.compact()
	return v
}

// removeAt removes and returns the i-th oldest item, keeping the others in
// order. It moves the shorter side, so removing near either end is cheap.
func (f *fifo[T]) removeAt(i int) T {
	var zero T
	at := f.head + i
	v := f.items[at]
	if i < f.len()/2 {
		copy(f.items[f.head+1:at+1], f.items[f.head:at])
		f.items[f.head] = zero
		f.head++
	} else {
		copy(f.items[at:], f.items[at+1:])
		f.items[len(f.items)-1] = zero
		f.items = f.items[:len(f.items)-1]
	}
	f.compact()
	return v
}

// removeFunc removes, from the i-th oldest on, every item for which drop
// reports true, keeping the others in order, and returns those removed,
// oldest first (nil if none).
func (f *fifo[T]) removeFunc(from int, drop func(*T) bool) []T {
	var zero T
	var removed []T
	kept := f.head + from
	for i := kept; i < len(f.items); i++ {
		if drop(&f.items[i]) {
			removed = append(removed, f.items[i])
			continue
		}
		f.items[kept] = f.items[i]
		kept++
	}
	if removed == nil {
		return nil
	}
	for i := kept; i < len(f.items); i++ {
		f.items[i] = zero
	}
	f.items = f.items[:kept]
	f.compact()
	return removed
}

// reset empties the queue, keeping its slice for reuse.
func (f *fifo[T]) reset() {
	clear(f.items)
	f.items, f.head = f.items[:0], 0
}

// release empties the queue and lets its slice go: an idle owner keeps none.
func (f *fifo[T]) release() { f.items, f.head = nil, 0 }

// compact reclaims the popped slots: all of them when the queue is empty,
// else by copying the queue down once they are the larger part.
func (f *fifo[T]) compact() {
	switch {
	case f.head == len(f.items):
		f.items, f.head = f.items[:0], 0
	case f.head > fifoCompactAt && f.head*2 > len(f.items):
		n := copy(f.items, f.items[f.head:])
		clear(f.items[n:])
		f.items, f.head = f.items[:n], 0
	}
}

// room wakes the goroutines waiting for room in a bounded queue (or for any
// change they wait on). Its owner's lock guards it; the channel is made only
// when someone waits, so an idle owner keeps none.
type room struct{ ch chan struct{} }

// wait returns a channel that closes at the next free. Call it with the
// owner's lock held, then release the lock and wait.
func (r *room) wait() <-chan struct{} {
	if r.ch == nil {
		r.ch = make(chan struct{})
	}
	return r.ch
}

// free wakes every goroutine waiting now.
func (r *room) free() {
	if r.ch != nil {
		close(r.ch)
		r.ch = nil
	}
}
