// Command raftlite runs raftlite clusters from the command line.
//
//	raftlite demo    three nodes in one process: broadcasts, a leader failure, agreement
//	                 (-v: the trace of every event; -sim [-seed N]: in the simulator, the same every run)
//	raftlite node    one node as its own process (--id --listen --peers --data --transport)
//	raftlite admin   a node's admin endpoint: status, add-voter, add-learner, remove, transfer
//	raftlite bench   the benchmark matrix of package bench, benchstat-compatible
//
// Run "raftlite help" for every subcommand.
//
// The exit status is 0 after a clean stop, 3 when the node's listen address
// is in use (a driver that picked the port may pick another and retry), and
// 1 on any other error.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// exitAddrInUse is the exit status when a listen address is in use.
const exitAddrInUse = 3

type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"demo", "three nodes in one process: broadcasts, a leader failure, agreement", runDemo},
		{"node", "one node as its own process: stdin lines are broadcast, deliveries go to stdout", runNode},
		{"admin", "ask a node's admin endpoint: status, add-voter, add-learner, remove, transfer", runAdmin},
		{"bench", "commit latency and throughput for every transport and persister, as a table", runBench},
	}
}

func main() {
	if err := dispatch(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "raftlite:", err)
		if errors.Is(err, syscall.EADDRINUSE) {
			os.Exit(exitAddrInUse)
		}
		os.Exit(1)
	}
}

func dispatch(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: raftlite <command> [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
}
