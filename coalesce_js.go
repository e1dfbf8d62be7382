package resilientws

// In the browser the page's socket takes each message whole: nothing to
// coalesce (see coalesce_other.go).

type heldConn struct{}

func (*rawConn) held() *heldConn { return nil }

func (*heldConn) hold() {}

func (*heldConn) endMessage() {}

func (*heldConn) wholeMessages(int) int { return 0 }

func (*heldConn) release() (int, error) { return 0, nil }
