import shutil
import subprocess
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from essmon.mqtt.broker import ACL_PLUGIN_SOURCE


class Command(BaseCommand):
    help = (
        "Compile essmon's access-control plugin for the gateways' Mosquitto listener "
        "(needs a C compiler and Mosquitto's headers: Debian's gcc, mosquitto-dev and "
        "libmosquitto-dev). See docs/deployment.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="where to write the .so")

    def handle(self, *, out, **options):
        compiler = shutil.which("gcc") or shutil.which("cc")
        if compiler is None:
            raise CommandError("no C compiler (gcc or cc) on PATH")
        target = Path(out)
        target.parent.mkdir(parents=True, exist_ok=True)
        command = [compiler, "-O2", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared"]
        built = subprocess.run(
            [*command, str(ACL_PLUGIN_SOURCE), "-o", str(target)],
            capture_output=True,
            text=True,
        )
        if built.returncode != 0:
            raise CommandError(f"the plugin did not compile:\n{built.stderr.strip()}")
        self.stdout.write(f"built {target}")
