# Fill the machine's disk and memory through /tmp and the folder, then go on.
import os

for folder in ("/tmp", "."):
    written = 0
    try:
        for i in range(100):
            with open(os.path.join(folder, f"fill{i}"), "wb") as f:
                f.write(bytes(100 * 2**20))
            written += 100
    except OSError as error:
        print(f"FILL {folder} stopped after {written} MiB: {error}")
    for i in range(100):
        if os.path.exists(os.path.join(folder, f"fill{i}")):
            os.remove(os.path.join(folder, f"fill{i}"))
