//go:build !plan9

package resilientws

import "syscall"

// errnoWords lists the socket errors describe puts in plain words.
var errnoWords = []errnoWord{
	{syscall.ECONNRESET, "the connection was reset (ECONNRESET)"},
	{syscall.ECONNREFUSED, "the connection was refused (ECONNREFUSED)"},
	{syscall.EPIPE, "the other side had closed the connection (EPIPE)"},
	{syscall.ECONNABORTED, "the connection was aborted (ECONNABORTED)"},
	{syscall.ETIMEDOUT, "the connection timed out (ETIMEDOUT)"},
	{syscall.EHOSTUNREACH, "the host is unreachable (EHOSTUNREACH)"},
	{syscall.ENETUNREACH, "the network is unreachable (ENETUNREACH)"},
}
