"""nbgrader configuration of the course; run every nbgrader command from this folder."""

from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    ClearOutput,
    DeduplicateIds,
    Execute,
    IgnorePattern,
    LimitOutput,
    OverwriteKernelspec,
    SaveAutoGrades,
)

from vae_anomaly.config import CELL_TIMEOUT, KERNEL_NAME
from vae_anomaly.course.feedback import FeedbackExporter
from vae_anomaly.decide.nbgrader_integrity import (
    FlagInGradebook,
    ForgetCopiedCells,
    VerifyChecks,
)
from vae_anomaly.decide.nbgrader_overwrite import OverwriteReleasedCells

c = get_config()  # noqa: F821 (provided by nbgrader)

c.CourseDirectory.course_id = "vae-anomaly"
c.CourseDirectory.source_directory = "source_assignments"

# Every submission runs in the course's grading kernel: the guard (budget, provenance,
# fingerprints) inside a bubblewrap sandbox (vae_anomaly/decide/sandbox.py; see "What a
# submission can and cannot do" in book/instructor.md). A cell that runs longer than
# CELL_TIMEOUT is interrupted and scored as failed, and the notebook goes on.
c.Execute.kernel_name = KERNEL_NAME
c.Execute.timeout = CELL_TIMEOUT
c.Execute.interrupt_on_timeout = True
# Once the last cell has run, its outputs are in: the kernel is killed rather than asked to
# shut down (a kernel holding TensorFlow takes about a second to exit, per submission).
c.Execute.shutdown_kernel = "immediate"

# A copied test cell is graded once (nbgrader alone would refuse the notebook); a test cell
# as released is not reported as changed (nbgrader #1961), an edited one still is.
c.Autograde.sanitize_preprocessors = [ClearOutput, ForgetCopiedCells, DeduplicateIds,
                                      OverwriteKernelspec, OverwriteReleasedCells,
                                      CheckCellMetadata]

# Test cells are trusted only with their check's record; the gradebook marks the rest.
c.Autograde.autograde_preprocessors = [
    Execute, VerifyChecks, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
    SaveAutoGrades, FlagInGradebook, AssignLatePenalties, CheckCellMetadata]

# Test cells a student deleted are put back, so their points are graded (as zero) rather
# than silently missing.
c.OverwriteCells.add_missing_cells = True

# Keep the training log (one line per epoch with verbose=2) and tracebacks readable.
c.LimitOutput.max_lines = 1000
c.LimitOutput.max_traceback = 40

# The feedback page works offline (MathJax inlined from the vendored copy: `release_feedback`
# ships the .html alone), wraps long lines and says which hand-graded cells are still open
# (vae_anomaly/course/feedback.py).
c.GenerateFeedback.exporter_class = FeedbackExporter
