package resilientws

// In the browser the page's socket takes each message whole: nothing to
// coalesce (see coalesce_other.go).

type heldConn struct{}

func (*rawConn) held() *heldConn { return nil }

func (*heldConn) hold() {}

func (*heldConn) beginMessage(int) {}

func (*heldConn) sentMessages(int) int { return 0 }

func (*heldConn) release() (int, error) { return 0, nil }

func (*connection) minFrame(int) int { return 0 }
