"""What a revision built, frozen at that revision, for the migrations that cannot say it in a few lines of SQL.

A migration is the record of one change of the schema. Replayed on an empty database years later it must do
what it did then, so it never calls the application's code (``reporting``, ``scheduler``, ``dashboard``): that
code follows the models of today, and today's ORM models read tables as they are today. Each module here is
named for the revision that froze it (``caseflags_0008``: the week flags as migration 0008 built them) and
imports only the standard library, SQLAlchemy Core (tables written as ``table()``/``column()`` literals with
the columns they had at that revision) and the other modules here.

A module here never changes once its revision is released: a later change (a case definition added or
changed, another rule node, other trigger SQL) comes as a new migration with its own frozen SQL, either in the
migration itself or in a new module named for its revision; it may call an earlier module only where the
tables that module reads are still as they were then. ``tests/test_migration_history.py`` replays the history
with the application's modules refused and checks that nothing here imports them.
"""
