set title "10 active connections plus idle ones: throughput, closed loop\n{/*0.8 Intel(R) Xeon(R) Processor, 2 CPUs, Linux 6.18.44-fc-v1045, 2026-12-02 08:44 UTC}"
set xlabel "idle connections held open"
set ylabel "messages/s (median, min-max)"
set grid
set key outside right top box opaque
set border 3
set tics nomirror
set logscale y
set arrow from 1009, graph 0 to 1009, graph 1 nohead dt 2 lc rgb "#56b4e9"
set label "select: fds reach FD\\_SETSIZE (1024); more are refused" at 1009, graph 0.95 offset 0.5,0 tc rgb "#56b4e9"
set terminal pngcairo size 900,520 font 'sans,10'
set output 'idle-throughput.png'
plot 'idle-throughput.dat' index 0 using 1:2:3:4 with yerrorlines lc rgb "#56b4e9" pt 5 ps 1.2 lw 2 dt 1 title 'select', \
     'idle-throughput.dat' index 1 using 1:2:3:4 with yerrorlines lc rgb "#009e73" pt 7 ps 1.2 lw 2 dt 1 title 'poll', \
     'idle-throughput.dat' index 2 using 1:2:3:4 with yerrorlines lc rgb "#0072b2" pt 9 ps 1.2 lw 2 dt 1 title 'epoll', \
     'idle-throughput.dat' index 3 using 1:2 with points pt 6 ps 2.6 lw 1.5 lc rgb '#555555' title 'client-bound (loadgen >= 90% CPU)'
set terminal svg size 900,520 font 'sans,10' dynamic
set output 'idle-throughput.svg'
replot
