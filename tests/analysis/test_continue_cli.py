"""``symrates continue`` on the command line (API.md §8)."""

from symrates.cli import main


def test_continue_prints_special_points_and_writes_plot(tmp_path, capsys):
    png = tmp_path / "branch.png"
    code = main(["continue", "jansen_rit.JR6", "--parameter", "p", "--bounds", "-200", "500",
                 "--plot", str(png), "--y", "v_pc"])
    assert code == 0
    out = capsys.readouterr().out
    assert out.startswith("continued the equilibria of JR6 in p over [-200, 500]:")
    assert "stable for p in [-200, 113.586], [-12.1475, 89.8291], [315.696, 500]" in out
    assert "special points (5):" in out
    assert "LP (fold) at p = 113.586273" in out
    assert "HB (Hopf) at p = 89.8291" in out and "(supercritical)" in out
    assert png.stat().st_size > 10_000


def test_continue_with_params(capsys):
    code = main(["continue", "montbrio.QIF", "--parameter", "eta", "--bounds", "-12", "0",
                 "--params", "J=10", "Delta=0.5"])
    assert code == 0
    out = capsys.readouterr().out
    assert "LP (fold) at eta = -1.497367" in out and "LP (fold) at eta = -2.557951" in out


def test_continue_errors_exit_2(capsys):
    assert main(["continue", "montbrio.QIF", "--parameter", "r", "--bounds", "0", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("symrates continue: error: parameter= of 'QIF' names 'r', which is a "
                          "state, not a parameter")
    assert main(["continue", "montbrio.QIF", "--parameter", "eta", "--bounds", "-1", "0"]) == 2
    assert "lies outside bounds=(-1, 0)" in capsys.readouterr().err
    assert main(["continue", "montbrio.QIF", "--parameter", "eta", "--bounds", "-9", "0",
                 "--params", "J"]) == 2
    assert "--params takes PATH=VALUE pairs such as 'J=12.5'; got 'J'" in capsys.readouterr().err
