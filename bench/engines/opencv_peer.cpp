// bench/engines/opencv_peer.cpp: the peer of bench/engines: the same darknet
// cfg + weights through OpenCV DNN (Debian libopencv-dnn-dev, CPU backend),
// timed the way bench_engines times vigia's engine and libdarknet.
//
//   opencv_peer CFG WEIGHTS WIDTH HEIGHT THREADS ITERS [INPUT.f32]
//
// A CFG ending in ".onnx" is an ONNX graph, read with readNetFromONNX (WEIGHTS
// is then ignored: give "-").
// INPUT.f32, when given, is the 3 x HEIGHT x WIDTH float tensor to run (as
// bench_engines --dump-input writes it); otherwise a constant 0.5 image.
// Prints one line: "opencv ms=<median ms per frame> min=<ms> threads=<n>".
// Built by bench/engines/run (not by make): it is C++ and needs OpenCV.
#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

int main(int argc, char **argv)
{
    if (argc < 7) {
        std::fprintf(stderr, "usage: %s CFG WEIGHTS WIDTH HEIGHT THREADS ITERS [INPUT.f32]\n", argv[0]);
        return 2;
    }
    const int w = std::atoi(argv[3]), h = std::atoi(argv[4]);
    const int threads = std::atoi(argv[5]), iters = std::atoi(argv[6]);
    cv::setNumThreads(threads);
    const std::string cfg = argv[1];
    const bool onnx = cfg.size() > 5 && cfg.compare(cfg.size() - 5, 5, ".onnx") == 0;
    cv::dnn::Net net = onnx ? cv::dnn::readNetFromONNX(cfg) : cv::dnn::readNetFromDarknet(argv[1], argv[2]);
    net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);

    int sizes[] = { 1, 3, h, w };
    cv::Mat blob(4, sizes, CV_32F, cv::Scalar(0.5));
    if (argc > 7) {
        std::ifstream in(argv[7], std::ios::binary);
        in.read(reinterpret_cast<char *>(blob.ptr<float>()), (std::streamsize)(sizeof(float) * 3 * w * h));
        if (!in) {
            std::fprintf(stderr, "cannot read %s\n", argv[7]);
            return 1;
        }
    }
    std::vector<cv::String> outs = net.getUnconnectedOutLayersNames();
    std::vector<cv::Mat> res;
    net.setInput(blob);
    net.forward(res, outs);                   // warm-up: allocations, kernel selection
    net.setInput(blob);
    net.forward(res, outs);

    std::vector<double> ms;
    for (int i = 0; i < iters; i++) {
        auto t0 = std::chrono::steady_clock::now();
        net.setInput(blob);
        net.forward(res, outs);
        auto t1 = std::chrono::steady_clock::now();
        ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    // rows whose best class score passes 0.25, as a sanity figure
    int found = 0;
    for (const cv::Mat &m : res)
        for (int r = 0; !onnx && r < m.rows; r++) {
            const float *row = m.ptr<float>(r);
            for (int c = 5; c < m.cols; c++)
                if (row[c] > 0.25f) {
                    found++;
                    break;
                }
        }
    std::printf("opencv ms=%.3f min=%.3f threads=%d candidates=%d\n", ms[ms.size() / 2], ms[0], threads, found);
    return 0;
}
