import GemmactlCommands

// Everything lives in GemmactlCommands (unit-tested there); runAsMain checks the CPU first.
await Gemmactl.runAsMain()
