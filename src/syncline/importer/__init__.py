"""`syncline import`: a whole preexisting sync from CSV or JSON Lines files, resumable.

readers     stream records (CSV or JSON Lines) from a byte offset, with their line numbers
rows        a record -> a validated, encoded preexisting event with a deterministic id
checkpoint  what the server has acknowledged, written atomically
run         the pipeline: started, users, things, associations, completed; in-flight batches
report      the counts and the rejected-rows file
"""
