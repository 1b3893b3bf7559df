"""nbgrader configuration of the course; run every nbgrader command from this folder."""

c = get_config()  # noqa: F821 (provided by nbgrader)

c.CourseDirectory.course_id = "vae-anomaly"
c.CourseDirectory.source_directory = "source_assignments"

# Autograding runs the whole notebook, training included: a cell may take minutes at the
# students' default budget (see book/instructor.md). A cell
# that runs longer than this is interrupted, scored as failed, and the notebook goes on.
c.Execute.timeout = 600
c.Execute.interrupt_on_timeout = True

# Test cells a student deleted are put back, so their points are graded (as zero) rather
# than silently missing.
c.OverwriteCells.add_missing_cells = True

# Keep the gradebook readable when a cell prints a lot (Keras' progress bars).
c.LimitOutput.max_lines = 200
c.LimitOutput.max_traceback = 40
