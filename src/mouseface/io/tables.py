"""Sessions and events tables (CSV, TSV or Parquet), validated.

CONTRACT (implemented by the io helper):

    read_sessions(path) -> pandas.DataFrame
        columns: session (str, unique), video (absolute Path as str), animal (str),
                 roi (tuple[int,int,int,int] | None), fps (float | NaN); other columns kept.
    read_events(path, sessions: DataFrame | None = None) -> pandas.DataFrame
        columns: session (str), onset (float s), duration (float s), trial_type (str),
                 plus any other column unchanged; adds `trial` (int, 0.. within session+trial_type
                 in onset order) and `event` (int, row number in the file).
    check_events_within(events, session, duration_s, path) -> None  # onset beyond video end

Every problem raises InputError(f"row {n}: ...", path) with one line naming the file, the row and
the problem.
"""
