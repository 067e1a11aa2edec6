"""Build the compiled helpers of symrates; all metadata lives in pyproject.toml.

This file holds only the extension list and a ``build_ext`` that probes OpenMP: it compiles and
links a tiny ``omp.h`` program with the compiler of this build. If that works, the extensions are
built with OpenMP (and ``SYMRATES_OPENMP=1``); otherwise they are built serial and a line in the
build log says so. ``SYMRATES_DISABLE_OPENMP=1`` forces the serial build.

Generated C files go to the build's temp directory, never into the source tree.
"""

import os
import sys
import tempfile
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CompileError, LinkError

EXT_DIR = "ext"
# Shared with the kernels that symrates compiles at run time (see symrates._ext.get_include()).
SHARED_FILES = ("conditional_omp.h", "conditional_omp.pxd")

EXTENSIONS = [
    Extension(
        "symrates._ext._omp",
        sources=[f"{EXT_DIR}/_omp.pyx"],
        include_dirs=[EXT_DIR],
        depends=[f"{EXT_DIR}/{name}" for name in SHARED_FILES],
    ),
]

CYTHON_DIRECTIVES = {"language_level": "3"}

OPENMP_PROBE = r"""
#include <omp.h>
#include <stdio.h>

int main(void) {
    int n = 0;
#pragma omp parallel
    {
#pragma omp atomic
        n += 1;
    }
    printf("%d threads of %d\n", n, omp_get_max_threads());
    return n < 1;
}
"""


def _say(message):
    """One line in the build log (pip shows it with -v, or when the build fails)."""
    print(f"symrates: {message}", file=sys.stderr, flush=True)


def _openmp_disabled_by_env():
    return os.environ.get("SYMRATES_DISABLE_OPENMP", "").strip() not in ("", "0")


class BuildExt(build_ext):
    """``build_ext`` that cythonizes into the temp dir and enables OpenMP when it links."""

    def build_extensions(self):
        msvc = self.compiler.compiler_type == "msvc"
        openmp_cflags, openmp_ldflags = (["/openmp"], []) if msvc else (["-fopenmp"], ["-fopenmp"])
        openmp = self._probe_openmp(openmp_cflags, openmp_ldflags)
        for ext in self.extensions:
            ext.extra_compile_args = ["/O2" if msvc else "-O3", *ext.extra_compile_args]
            if openmp:
                ext.extra_compile_args += openmp_cflags
                ext.extra_link_args = [*ext.extra_link_args, *openmp_ldflags]
                ext.define_macros = [*ext.define_macros, ("SYMRATES_OPENMP", "1")]
        self._cythonize()
        super().build_extensions()

    def run(self):
        super().run()
        if not self.inplace:
            # A regular (non-editable) build: ship the shared header and .pxd inside the package.
            # An in-place/editable build reads them from ext/ in the source tree instead.
            dest = os.path.join(self.build_lib, "symrates", "_ext", "include")
            self.mkpath(dest)
            source_dir = Path(__file__).resolve().parent / EXT_DIR
            for name in SHARED_FILES:
                self.copy_file(str(source_dir / name), os.path.join(dest, name))

    def _probe_openmp(self, cflags, ldflags):
        """Compile and link a tiny OpenMP program with this build's compiler."""
        if _openmp_disabled_by_env():
            _say(
                "OpenMP disabled by SYMRATES_DISABLE_OPENMP; building serial extensions: "
                "kernels run single-threaded."
            )
            return False
        with tempfile.TemporaryDirectory(prefix="symrates-openmp-probe-") as tmp:
            source = os.path.join(tmp, "openmp_probe.c")
            with open(source, "w") as fh:
                fh.write(OPENMP_PROBE)
            try:
                objects = self.compiler.compile([source], output_dir=tmp, extra_postargs=cflags)
                self.compiler.link_executable(
                    objects, "openmp_probe", output_dir=tmp, extra_postargs=ldflags
                )
            except (CompileError, LinkError) as exc:
                _say(
                    f"OpenMP was not found (compiling and linking with {' '.join(cflags)} "
                    f"failed: {exc}); building serial extensions: kernels run single-threaded. "
                    "Install the compiler's OpenMP runtime (e.g. libgomp, libomp) and reinstall "
                    "to run in parallel."
                )
                return False
        _say(f"OpenMP found ({' '.join(cflags)}); building parallel extensions.")
        return True

    def _cythonize(self):
        """Turn the .pyx sources into C files in the build's temp dir (sources change in place)."""
        try:
            from Cython.Build import cythonize
        except ImportError as exc:
            raise RuntimeError(
                "Cython>=3.0 is needed to build symrates: `python -m pip install cython`, "
                "or install with pip, which reads the build requirements from pyproject.toml."
            ) from exc
        for ext in self.extensions:
            (generated,) = cythonize(
                [ext],
                build_dir=os.path.join(self.build_temp, "cython"),
                include_path=[EXT_DIR],
                compiler_directives=CYTHON_DIRECTIVES,
                force=self.force,
                quiet=not self.verbose,
            )
            ext.sources = generated.sources


setup(ext_modules=EXTENSIONS, cmdclass={"build_ext": BuildExt})
