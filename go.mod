module github.com/raftlite/raftlite

go 1.26
