package resilientws

// In the browser the page's socket takes each message whole: nothing to
// coalesce (see coalesce_other.go).

// coalesceMin is never reached: held returns nil.
const coalesceMin = 0

type heldConn struct{}

func (*rawConn) held() *heldConn { return nil }

func (*heldConn) hold() {}

func (*heldConn) release() error { return nil }
