// Command pause holds a pod's namespaces open: the sandbox image of the node stage's containerd.
//
// As the first process of a pod it exits on SIGINT or SIGTERM and reaps every child that ends,
// so that processes orphaned into the sandbox never linger as zombies.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for received := range signals {
		if received != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
