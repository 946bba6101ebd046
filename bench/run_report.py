#!/usr/bin/python3
"""run_report.py — the table of bench/run.sh.

  --collect OUT TIME JSON   one timed run: OUT's last JSON line (or its
                            key=value lines) plus the peak resident set from
                            /usr/bin/time -v's TIME, written to JSON
  --work DIR --out FILE     the table from the runs in DIR: medians over the
                            repeats, written to FILE (JSON) and printed
                            (markdown) with the CPU model and the load
  --only PART               the table of one part run again (bench/run.sh
                            --only): PART's rows from DIR, every other row
                            kept from FILE with the run it came from ("runs")

Ratios are "how many times faster dgm is": reference time / dgm time, or dgm
rate / reference rate. Reference figures marked "stated" are the issue's (KenLM
is not in Debian); they were measured on another day's machine.
"""
import argparse, glob, json, math, os, statistics, sys, time


def collect(out, tim, dest):
    text = open(out).read().splitlines()
    objs = [l for l in text if l.strip().startswith('{')]
    if objs:
        d = json.loads(objs[-1])
    else:
        d = {}
        for l in text:
            k, eq, v = l.strip().partition('=')
            if eq:
                try:
                    d[k] = float(v)
                except ValueError:
                    d[k] = v
        if not d:
            return 1
    for line in open(tim):
        if 'Maximum resident set size' in line:
            d['peak_mb'] = int(line.split(':')[1]) / 1024
        elif 'User time' in line:
            d['user_s'] = float(line.split(':')[1])
        elif 'System time' in line:
            d['sys_s'] = float(line.split(':')[1])
    json.dump(d, open(dest, 'w'))
    return 0


def med(values):
    values = [v for v in values if isinstance(v, (int, float)) and not math.isnan(v)]
    return statistics.median(values) if values else None


PARTS = ('mixture', 'neural', 'pixelcnn', 'ngram')  # bench/run.sh --only, in the table's order


def part_of(work):
    """The part of a row from a table written before rows named their part."""
    if work.startswith('mixture'):
        return 'mixture'
    if work.startswith('PixelCNN'):
        return 'pixelcnn'
    if work.startswith('n-gram'):
        return 'ngram'
    return 'neural'


def report(a):
    work = a.work

    def runs(name):
        return [json.load(open(f)) for f in sorted(glob.glob(f'{work}/{name}-[0-9]*.json'))]

    def field(name, get):
        vals = []
        for r in runs(name):
            try:
                vals.append(get(r))
            except (KeyError, IndexError, TypeError):
                pass
        return med(vals)

    key = lambda k: (lambda r: r[k])
    peak = key('peak_mb')
    rows = []
    part = [None]  # the bench/run.sh part (--only) the rows being made belong to

    def run_part(p):
        part[0] = p
        return not a.only or a.only == p

    def row(work_, unit, dgm, ref, ref_name, faster_when_higher, target=None, dgm_peak=None, ref_peak=None,
            note='', target_text=None, meets=None):
        ratio = None
        if dgm and ref:
            ratio = dgm / ref if faster_when_higher else ref / dgm
        if target is not None:
            target_text = f'≥ {target:g}x'
            if ratio is not None:
                meets = ratio >= target
        rows.append({'part': part[0], 'work': work_, 'unit': unit, 'dgm': dgm, 'reference': ref, 'reference_name': ref_name,
                     'ratio': ratio, 'target': target_text, 'meets': meets, 'dgm_peak_mb': dgm_peak,
                     'reference_peak_mb': ref_peak, 'note': note})

    torch_epoch = lambda k: (lambda r: r['epochs'][0][k])
    if run_part('mixture') and runs('dgm-mixture'):
        nll = f"test NLL {field('dgm-mixture', key('test_nll'))} / {field('torch-mixture', key('test_nll'))}"
        row('mixture EM, K=100, per iteration', 'CPU s', field('dgm-mixture', key('cpu_sec_per_iter_median')),
            field('torch-mixture', key('cpu_sec_per_iter_median')), 'PyTorch', False, 3.0,
            field('dgm-mixture', peak), field('torch-mixture', peak), nll)
    if run_part('neural') and runs('dgm-nade-train'):
        row('NADE-500, training batch of 100', 'CPU ms', field('dgm-nade-train', key('cpu_ms_per_batch')),
            field('torch-nade-train', torch_epoch('cpu_ms_per_batch')), 'PyTorch', False, 10.0,
            field('dgm-nade-train', peak), field('torch-nade-train', peak))
        row('NADE-500 scoring', 'images / CPU s', field('dgm-nade-score', key('score_images_per_cpu_s')),
            field('torch-nade-score', key('score_images_per_cpu_s')), 'PyTorch', True, 10.0,
            field('dgm-nade-score', peak), field('torch-nade-score', peak))
        for m, label in (('made', 'MADE-500'), ('fvsbn', 'FVSBN')):
            if a.quick:
                row(f'{label}, training batch of 100', 'CPU ms', field(f'dgm-{m}-train', key('cpu_ms_per_batch')),
                    field(f'torch-{m}-train', torch_epoch('cpu_ms_per_batch')), 'PyTorch', False, 2.0,
                    field(f'dgm-{m}-train', peak), field(f'torch-{m}-train', peak))
            else:
                row(f'{label}, training epoch', 'CPU s', field(f'dgm-{m}-train', key('epoch_cpu_s')),
                    field(f'torch-{m}-train', torch_epoch('cpu_s')), 'PyTorch', False, 2.0,
                    field(f'dgm-{m}-train', peak), field(f'torch-{m}-train', peak))
            row(f'{label} scoring', 'images / CPU s', field(f'dgm-{m}-score', key('score_images_per_cpu_s')),
                field(f'torch-{m}-score', key('score_images_per_cpu_s')), 'PyTorch', True, 2.0,
                field(f'dgm-{m}-score', peak), field(f'torch-{m}-score', peak))
    if run_part('pixelcnn') and runs('dgm-pixelcnn-train'):
        row('PixelCNN (fmnist8 config), training step of 32', 'CPU ms',
            field('dgm-pixelcnn-train', key('cpu_ms_per_batch')), field('torch-pixelcnn-train', key('cpu_ms_per_batch')),
            'PyTorch, same model', False, 2.0, field('dgm-pixelcnn-train', peak), field('torch-pixelcnn-train', peak))
        s_dgm = field('dgm-pixelcnn-sample', key('sample_images_per_cpu_s'))
        row('PixelCNN sampling', 'images / CPU s', s_dgm, field('torch-pixelcnn-sample', key('sample_images_per_cpu_s')),
            'PyTorch, cached activations', True, 2.0, field('dgm-pixelcnn-sample', peak),
            field('torch-pixelcnn-sample', peak))
        row('PixelCNN sampling, against dgm before caching', 'images / CPU s', s_dgm, 2.8,
            'dgm recomputing (stated)', True, 100.0, note='the issue\'s figure for the sampler before caching')
        chk = os.path.join(work, 'pixelcnn-check.json')
        if os.path.exists(chk):
            c = json.load(open(chk))
            row('PixelCNN log-likelihoods of 64 test images, PyTorch on dgm\'s parameters', 'max relative difference',
                c.get('max_rel_diff'), None, 'PyTorch, same model', True, None, None, c.get('peak_mb'),
                f"{c.get('parameters')} parameters in PyTorch, {c.get('dgm_parameters')} in dgm",
                target_text='≤ 1e-6', meets=c.get('max_rel_diff', 1.0) <= 1e-6)
    # bench/ngram_kjv.sh's output, one log per repeat (ngram_kjv-R.log and
    # its word5.json, ngram-word5-R.json): a table whose first line starts
    # with "model" (column names), one row per model, the line "sampling
    # word5 words/s 1t X 2t Y identical yes|no".
    logs = sorted(glob.glob(os.path.join(work, 'ngram_kjv-[0-9]*.log')))
    if run_part('ngram') and logs:
        word5s, samplings = [], []
        for log in logs:
            header = None
            for line in open(log):
                f = line.split()
                if f and f[0] == 'model':
                    header = f
                elif f and f[0] == 'word5' and header and len(f) == len(header):
                    word5s.append(dict(zip(header, f)))
                elif f[:3] == ['sampling', 'word5', 'words/s'] and len(f) >= 9:
                    samplings.append({'1t': float(f[4]), '2t': float(f[6]), 'identical': f[8] == 'yes',
                                      'cores': float(f[10]) if len(f) >= 13 else None,
                                      'cpu1': float(f[12]) if len(f) >= 13 else None})
        failed = os.path.exists(os.path.join(work, 'ngram-failed'))
        fail_note = '; bench/ngram_kjv.sh failed in this run, see ngram_kjv-R.log' if failed else ''
        col = lambda k: med([float(d[k]) for d in word5s if k in d])
        js = [json.load(open(f)) for f in sorted(glob.glob(os.path.join(work, 'ngram-word5-[0-9]*.json')))]
        jcol = lambda k: med([d[k] for d in js if k in d])
        qps = jcol('query_tokens_per_cpu_second')
        qnote = 'per CPU second of the scoring thread'
        if qps is None:
            qps, qnote = col('query_tok/s'), 'per wall second of bench/ngram_tool on a shared machine'
        row('n-gram 5-gram KJV query, one thread', 'tokens / s', qps, 8.65e6, 'KenLM probing (stated)', True, 1.2,
            note=qnote + fail_note)
        load_s = jcol('model_load_seconds')
        if load_s is None and col('load_ms') is not None:
            load_s = col('load_ms') / 1000
        row('n-gram model load (KJV 5-gram)', 's', load_s, 0.004, 'KenLM mmap (stated)', False,
            target_text='≤ 0.010 s', meets=None if load_s is None else load_s <= 0.010,
            note='wall time of load_model' + fail_note)
        cpu_s, peak_mb = col('cpu_s'), col('peak_MB')
        bigs_ran = os.path.exists(os.path.join(work, 'ngram_big.log'))
        row('n-gram build, KJV word 5-gram', 'CPU s', cpu_s, 0.9, 'KenLM lmplz (stated)', False,
            dgm_peak=peak_mb, ref_peak=230.0, target_text='≤ lmplz time and memory',
            meets=None if cpu_s is None or peak_mb is None else cpu_s <= 0.9 and peak_mb <= 230,
            note=('lmplz\'s KJV figures from issue 5; the 25 M-word corpus in the rows below' if bigs_ran else
                  'the issue\'s 25 M-word corpus is not in this run') + fail_note)
        # bench/ngram_kjv.sh big: "big CORPUS TOKENS BUDGET cpu_s wall_s peak_MB sections identical".
        bigs = {}
        big_log = os.path.join(work, 'ngram_big.log')
        if os.path.exists(big_log):
            for line in open(big_log):
                f = line.split()
                if len(f) == 9 and f[0] == 'big' and f[1] in ('kjv', 'big') and f[2].isdigit():
                    bigs[(f[1], f[3])] = {'tokens': int(f[2]), 'cpu': float(f[4]), 'peak': float(f[6]),
                                          'sections': int(f[7]), 'identical': f[8]}
        for (corpus, budget), b in sorted(bigs.items(), key=lambda kv: (kv[0][0], kv[0][1] != 'default')):
            if corpus != 'big':
                continue
            within = 'in memory' if budget == 'default' else f'within model.build_memory_mb = {budget}'
            note = (f"31 copies of the KJV training text, {b['tokens']:,} words: the KJV's n-gram types, so "
                    "counting runs at 25 M tokens but the types do not grow as a real corpus's would; "
                    "peak = reading the corpus")
            if budget != 'default':
                kjv = bigs.get(('kjv', budget))
                note += (f"; {b['sections']} sections spilled and merged, model file identical to the in-memory "
                         f"build's: {b['identical']}")
                if kjv:
                    note += (f"; KJV alone: {kjv['sections']} sections, identical: {kjv['identical']}, "
                             f"{kjv['cpu']:.2f} CPU s, {kjv['peak']:.0f} MB")
            row(f'n-gram build, 25.6 M-word corpus, word 5-gram, {within}', 'CPU s', b['cpu'], 28.3,
                'KenLM lmplz (stated)', False, dgm_peak=b['peak'], ref_peak=1200.0,
                target_text='≤ lmplz time and memory', meets=b['cpu'] <= 28.3 and b['peak'] <= 1200, note=note)
        if samplings:
            s1, s2 = med([x['1t'] for x in samplings]), med([x['2t'] for x in samplings])
            identical = all(x['identical'] for x in samplings)
            cores = med([x['cores'] for x in samplings if x.get('cores') is not None])
            cpu1 = med([x['cpu1'] for x in samplings if x.get('cpu1') is not None])
            extra = ''
            if cores is not None:
                extra = (f'; the 2-thread runs got {cores:.2f} cores (CPU s per wall s: the machine\'s other load '
                         f'decides it); one thread draws {cpu1 / 1000:.1f}k words per CPU second')
            row('n-gram sampling (KJV 5-gram), 2 threads against 1', 'words / s', s2, s1,
                'dgm on 1 thread', True, target_text='all cores, identical draws',
                meets=s2 > 1.3 * s1 and identical,
                note='wall time; draws identical across threads: ' + ('yes' if identical else 'no') + extra)
        else:
            row('n-gram sampling', '', None, None, '', True, target_text='all cores',
                note=('not measured by this bench/ngram_kjv.sh' if not failed else fail_note[2:]))

    # The CPU's name, family and model (a name like "AMD EPYC" covers several
    # generations, whose vector units differ).
    info = {}
    for line in open('/proc/cpuinfo'):
        k, _, v = line.partition(':')
        info.setdefault(k.strip(), v.strip())
    cpu = info.get('model name', 'unknown')
    if 'cpu family' in info:
        cpu += f" (family {info['cpu family']} model {info.get('model', '?')})"
    torch_version = None
    try:
        import torch
        torch_version = torch.__version__
        # The BLAS kernels the reference runs on this CPU: OpenBLAS picks them
        # by CPU at load time (Cooperlake's AVX-512 on a Zen 4, for one), and
        # they move the reference's figures as much as the CPU does.
        import ctypes
        blas = sorted({l.split()[-1] for l in open('/proc/self/maps') if 'libopenblas' in l and '.so' in l})
        if blas:
            lib = ctypes.CDLL(blas[0])
            lib.openblas_get_corename.restype = ctypes.c_char_p
            torch_version += f", OpenBLAS {lib.openblas_get_corename().decode()} kernels"
    except Exception:
        pass
    command = 'bench/run.sh' + (' --quick' if a.quick else '') + (f' --only {a.only}' if a.only else '')
    this_run = {'date': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()), 'cpu': cpu, 'cores': os.cpu_count(),
                'load_before': a.load_before, 'load_after': a.load_after, 'repeats': a.repeats,
                'quick': bool(a.quick), 'torch': torch_version, 'command': command}
    runs_of = {p: this_run for p in PARTS}
    # --only P: the other parts' rows, and the runs they came from, are kept
    # from the table this run replaces (a table written before rows named
    # their part came from one full run).
    if a.only and os.path.exists(a.out):
        prev = json.load(open(a.out))
        fallback = {k: prev.get(k) for k in this_run}
        kept = []
        for r in prev.get('rows', []):
            p = r.get('part') or part_of(r['work'])
            if p != a.only:
                kept.append(dict(r, part=p))
                runs_of[p] = prev.get('runs', {}).get(p, fallback)
        rows[:] = sorted(kept + rows, key=lambda r: PARTS.index(r['part']))
    runs_of = {p: runs_of[p] for p in PARTS if any(r['part'] == p for r in rows)}
    result = dict(this_run, threads=1,
                  figures='CPU time of the timed section, median over interleaved repeats; ratio = how many times '
                          'faster dgm is', runs=runs_of, rows=rows)
    tmp = a.out + '.tmp'
    json.dump(result, open(tmp, 'w'), indent=1)
    os.replace(tmp, a.out)

    def fmt(v):
        if v is None:
            return '—'
        if abs(v) < 1e-3:
            return f'{v:.1e}'
        if abs(v) >= 1e6:
            return f'{v / 1e6:.2f} M'
        if abs(v) >= 1e4:
            return f'{v / 1e3:.1f}k'
        if abs(v) >= 100:
            return f'{v:.0f}'
        return f'{v:.3g}'

    # One line per run the rows come from (one, after a full run).
    distinct = []
    for p, r in runs_of.items():
        for d in distinct:
            if d[1] == r:
                d[0].append(p)
                break
        else:
            distinct.append(([p], r))
    for parts, r in distinct:
        which = '' if len(distinct) == 1 else ', '.join(parts) + ' rows: '
        torch_part = parts != ['ngram']  # the n-gram part has no reference run to interleave with
        print(f"{which}{r['cpu']}, {r['cores']} cores, load {r['load_before']} before / {r['load_after']} after; "
              f"one thread; CPU time, median of {r['repeats']}{' interleaved' if torch_part else ''} runs; "
              + (f"PyTorch {r['torch']}; " if torch_part else '') + f"`{r['command']}` ({r['date']})")
    print()
    print('| work | dgm | reference | dgm is | target | peak MB dgm / reference |')
    print('| --- | --- | --- | --- | --- | --- |')
    for r in rows:
        ratio = '—' if r['ratio'] is None else f"{r['ratio']:.2f}x" + (' faster' if r['ratio'] >= 1 else ' (slower)')
        target = r['target'] or '—'
        if r['meets'] is not None:
            target += ' ✓' if r['meets'] else ' **✗**'
        pk = '—'
        if r['dgm_peak_mb'] is not None or r['reference_peak_mb'] is not None:
            pk = f"{fmt(r['dgm_peak_mb'])} / {fmt(r['reference_peak_mb'])}"
        unit = f" {r['unit']}" if r['unit'] and r['dgm'] is not None else ''
        note = f" ({r['note']})" if r['note'] else ''
        ref = f"{r['reference_name']} {fmt(r['reference'])}" if r['reference'] is not None else r['reference_name'] or '—'
        print(f"| {r['work']}{note} | {fmt(r['dgm'])}{unit} | {ref} | {ratio} | {target} | {pk} |")
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--collect', nargs=3, metavar=('OUT', 'TIME', 'JSON'))
    ap.add_argument('--work')
    ap.add_argument('--out')
    ap.add_argument('--repeats', type=int, default=0)
    ap.add_argument('--quick', type=int, default=0)
    ap.add_argument('--load-before', default='')
    ap.add_argument('--load-after', default='')
    ap.add_argument('--only', default='', choices=('',) + PARTS)
    a = ap.parse_args()
    if a.collect:
        return collect(*a.collect)
    if not a.work or not a.out:
        ap.error('--collect, or --work and --out')
    return report(a)


if __name__ == '__main__':
    sys.exit(main())
