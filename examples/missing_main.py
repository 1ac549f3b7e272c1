# This script defines no main(): pexos must answer MissingMain.
print("module body ran")


def helper():
    return 42
