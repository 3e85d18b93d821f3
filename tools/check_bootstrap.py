"""Checks that a function built by `sam build` is a Linux executable for the architecture
the template deploys: python3 tools/check_bootstrap.py <bootstrap> <x86_64|arm64>."""
import sys

MACHINES = {"x86_64": 0x3E, "arm64": 0xB7}  # ELF e_machine: EM_X86_64, EM_AARCH64

path, architecture = sys.argv[1], sys.argv[2]
try:
    with open(path, "rb") as f:
        header = f.read(20)
except OSError as e:
    sys.exit(f"sam build left no function at {path}: {e}")
if header[:4] != b"\x7fELF":
    sys.exit(f"{path} is not an ELF executable")
machine = int.from_bytes(header[18:20], "little")
if machine != MACHINES[architecture]:
    sys.exit(f"{path} is built for ELF machine {machine:#x}, the template deploys {architecture}")
print(f"sam build: {path} ({architecture})")
