// The Linux half of argoexec's process control, which the released Argo v4.0.5 module lacks
// (it ships the darwin and windows files only, so argoexec does not compile for Linux). The node
// stage's build adds this file to the module's osspecific package with `go build -overlay`.
//
// The emissary runs the step's command in its own process group, forwards signals to that
// group, and, as the container's first process, reaps every child that ends while it waits for
// the command itself.

package osspecific

import (
	"errors"
	"os"
	"syscall"

	argoerrors "github.com/argoproj/argo-workflows/v4/util/errors"
)

// Term is the signal that asks a step to end.
var Term = syscall.SIGTERM

// CanIgnoreSignal tells which received signals are not forwarded to the step.
func CanIgnoreSignal(s os.Signal) bool {
	return s == syscall.SIGCHLD || s == syscall.SIGURG
}

// Kill signals the process group of pid when it has one, else pid alone.
func Kill(pid int, s syscall.Signal) error {
	if group, err := syscall.Getpgid(pid); err == nil {
		return syscall.Kill(-group, s)
	}
	return syscall.Kill(pid, s)
}

// Setpgid starts the command in a process group of its own.
func Setpgid(attr *syscall.SysProcAttr) {
	attr.Setpgid = true
}

// Wait blocks until process ends, reaping any other child on the way, and returns its exit
// status as Argo's exit error (128 + signal for a killed process); nil for status 0.
func Wait(process *os.Process) error {
	pid := process.Pid
	if err := process.Release(); err != nil {
		return err
	}
	for {
		var status syscall.WaitStatus
		reaped, err := syscall.Wait4(-1, &status, 0, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if reaped != pid {
			continue
		}
		switch {
		case status.Exited() && status.ExitStatus() == 0:
			return nil
		case status.Exited():
			return argoerrors.NewExitErr(status.ExitStatus())
		case status.Signaled():
			return argoerrors.NewExitErr(128 + int(status.Signal()))
		}
	}
}
