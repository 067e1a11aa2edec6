"""The command line."""

import pytest

from symrates.cli import main


def test_demo_writes_plot_and_reports(tmp_path, capsys):
    png = tmp_path / "demo.png"
    assert main(["demo", "--plot", str(png), "--t-end", "1.0"]) == 0
    out = capsys.readouterr().out
    assert "d/dt y0 = y3" in out
    assert "fixed points at p = 220" in out and "saddle-focus" in out
    assert "Hz" in out and png.stat().st_size > 10_000


def test_info_lists_equations_states_parameters(capsys):
    assert main(["info", "jansen_rit.JRC"]) == 0
    out = capsys.readouterr().out
    assert "JRC: 8 states" in out and "pc/RPO_e_pc/u = 220" in out
    assert "d/dt RPO_i/v = RPO_i/x" in out


def test_simulate_writes_csv_and_plot(tmp_path, capsys):
    csv, png = tmp_path / "out.csv", tmp_path / "out.png"
    code = main(["simulate", "jansen_rit.JRC", "--t-end", "0.05", "--dt", "1e-4",
                 "--method", "euler", "--out", str(csv), "--plot", str(png)])
    assert code == 0
    lines = csv.read_text().splitlines()
    assert lines[0].startswith("t,pc/RPO_e_pc/v") and len(lines) == 502
    assert png.exists()


def test_list(capsys):
    assert main(["list"]) == 0
    assert "jansen_rit.JRC" in capsys.readouterr().out


def test_model_errors_exit_2_with_message(capsys):
    assert main(["info", "nosuchfamily.Model"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("symrates info: error: No model file for 'nosuchfamily.Model'")
    with pytest.raises(SystemExit):
        main(["simulate", "jansen_rit.JRC"])   # --t-end and --dt are required
