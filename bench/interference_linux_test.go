package bench

// writeBehindWays are the ways of writing of WriteBehind, which Linux
// alone has.
var writeBehindWays = []struct {
	name  string
	write LargeWrite
}{
	{"behind-1MiB-nowait", WriteBehind(1<<20, false, 0)},
	{"behind-1MiB", WriteBehind(1<<20, true, 0)},
	{"behind-256KiB", WriteBehind(256<<10, true, 0)},
	{"behind-1MiB-64MiBps", WriteBehind(1<<20, true, 64<<20)},
}
