// bench/engines/ort_peer.js: ONNX Runtime (the CPU library onnxruntime-node
// bundles; installed in bench/ with `npm install --ignore-scripts`, a
// benchmark peer only) on the same ONNX graph and input as bench_engines onnx,
// timed the same way.
//
//   node ort_peer.js GRAPH.onnx THREADS ITERS [INPUT.f32]
//
// INPUT.f32: the 3 x H x W float tensor (bench_engines dump-input); otherwise
// 0.5 everywhere. Prints one line: "ort ms=<median> min=<ms> threads=<n> rss_mb=<peak>
// top1=<index>" (top1: the largest value of the first output, a classifier's class).
'use strict';
const fs = require('fs');
const path = require('path');

async function main() {
    const [graph, threads, iters, input] = process.argv.slice(2);
    if (!graph || !(+threads >= 1) || !(+iters >= 1)) {
        process.stderr.write('usage: node ort_peer.js GRAPH.onnx THREADS ITERS [INPUT.f32]\n');
        process.exit(2);
    }
    const ort = require(path.join(__dirname, '..', 'node_modules', 'onnxruntime-node'));
    const sess = await ort.InferenceSession.create(graph, {
        intraOpNumThreads: +threads, interOpNumThreads: 1, executionMode: 'sequential',
        graphOptimizationLevel: 'all',
    });
    const meta = sess.inputMetadata ? sess.inputMetadata[0] : null;
    const dims = meta && meta.shape ? meta.shape.map((d) => (typeof d === 'number' ? d : 1)) : null;
    if (!dims || dims.length !== 4) {
        process.stderr.write('ort: cannot read the input shape\n');
        process.exit(1);
    }
    const n = dims.reduce((a, b) => a * b, 1);
    let data = new Float32Array(n).fill(0.5);
    if (input) {
        const buf = fs.readFileSync(input);
        if (buf.length !== n * 4) {
            process.stderr.write(`ort: ${input} holds ${buf.length} bytes, the input ${n * 4}\n`);
            process.exit(1);
        }
        data = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
    }
    const feeds = { [sess.inputNames[0]]: new ort.Tensor('float32', data, dims) };
    for (let i = 0; i < 3; i++)
        await sess.run(feeds);
    const ms = [];
    let res = null;
    for (let i = 0; i < +iters; i++) {
        const t0 = process.hrtime.bigint();
        res = await sess.run(feeds);
        ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const y = res[sess.outputNames[0]].data;
    let top1 = 0;
    for (let i = 1; i < y.length; i++)
        if (y[i] > y[top1])
            top1 = i;
    ms.sort((a, b) => a - b);
    const rss = process.resourceUsage().maxRSS / 1024;
    console.log(`ort ms=${ms[ms.length >> 1].toFixed(3)} min=${ms[0].toFixed(3)} threads=${threads} rss_mb=${rss.toFixed(1)} top1=${top1}`);
}

main().catch((e) => {
    process.stderr.write(`ort: ${e.message}\n`);
    process.exit(1);
});
