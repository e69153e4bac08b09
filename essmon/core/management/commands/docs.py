"""``essmon docs``: the docs' generated regions from the code, and the settings' rows checked."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from essmon.core import docgen


class Command(BaseCommand):
    help = (
        "Rewrite the docs' generated regions (scheduler jobs, URLs) from the code with --write; "
        "with --check, fail when a doc differs from the code or a setting is not documented."
    )

    def add_arguments(self, parser):
        mode = parser.add_mutually_exclusive_group(required=True)
        mode.add_argument(
            "--check", action="store_true", help="change nothing; fail on a difference"
        )
        mode.add_argument("--write", action="store_true", help="rewrite the generated regions")

    def handle(self, *args, check: bool, write: bool, **options):
        problems = docgen.settings_problems()
        if write:
            for doc in docgen.write_docs():
                self.stdout.write(f"rewrote {doc.relative_to(docgen.ROOT)}")
        else:
            problems += [
                f"{doc.relative_to(docgen.ROOT)}: generated region differs from the code "
                "(run essmon docs --write)"
                for doc in docgen.stale_docs()
            ]
        if problems:
            raise CommandError("\n".join(problems))
        self.stdout.write("docs agree with the code")
