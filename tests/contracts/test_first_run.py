"""The first run says what it is doing: a line before numba compiles, and the time it took."""

import subprocess
import sys
import textwrap

from ml4t_vec._kernels.warmup import CompileNotice, is_compiled

MODULE = textwrap.dedent(
    """
    from numba import njit

    @njit(cache=True)
    def twice_nb(x):
        return 2 * x
    """
)

PROBE = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[1])
    import tiny
    from ml4t_vec._kernels.warmup import CompileNotice, is_compiled
    print(is_compiled(tiny.twice_nb))
    n = CompileNotice("tiny")
    n.check(tiny.twice_nb)
    tiny.twice_nb(3)
    n.done()
    """
)


def test_notice_before_a_compile_and_silence_after(tmp_path):
    (tmp_path / "tiny.py").write_text(MODULE)
    first = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], capture_output=True, text=True, check=True)
    assert first.stdout.split() == ["False"]
    assert "first run: compiling tiny" in first.stderr and "compiled in" in first.stderr
    again = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], capture_output=True, text=True, check=True)
    assert again.stdout.split() == ["True"] and again.stderr == ""  # loaded from numba's disk cache


def test_loaded_kernels_count_as_compiled(capsys):
    import numpy as np

    from ml4t_vec._kernels.sort import stable_argsort_nb

    stable_argsort_nb(np.zeros(3), 3)
    assert is_compiled(stable_argsort_nb)
    n = CompileNotice()
    n.check(stable_argsort_nb)
    n.done()
    assert capsys.readouterr().err == ""
