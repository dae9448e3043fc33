//go:build !linux

package bench

var writeBehindWays []struct {
	name  string
	write LargeWrite
}
